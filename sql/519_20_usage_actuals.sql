-- Aesthetic Inventory: planned versus actual usage (issue 12).
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- The usage record of a visit and mapping gets what was really used. A NULL
-- actual_quantity means "none recorded": the reconcile then follows the plan. Once an
-- actual is recorded it is the reconcile's target (rounded up to whole units; the
-- exact value is kept here). variance = actual - planned is generated, so it stays
-- true when the billing lines (the plan) change later.
#IfMissingColumn aesthetic_inventory_usage actual_quantity
ALTER TABLE `aesthetic_inventory_usage`
  ADD COLUMN `actual_quantity` decimal(14,4) NULL DEFAULT NULL COMMENT 'what was really used; NULL = not recorded',
  ADD COLUMN `variance_quantity` decimal(14,4) AS (`actual_quantity` - `planned_quantity`) VIRTUAL,
  ADD COLUMN `variance_reason` varchar(31) NULL DEFAULT NULL COMMENT 'ADDITIONAL_USAGE, LESS_THAN_PLANNED, WASTAGE, PROCEDURE_COMPLEXITY, OTHER',
  ADD COLUMN `actual_notes` varchar(1000) NULL DEFAULT NULL,
  ADD COLUMN `actual_lot_id` int NULL DEFAULT NULL COMMENT 'drug_inventory.inventory_id of the lot actually used, if named',
  ADD COLUMN `actual_source` varchar(15) NULL DEFAULT NULL COMMENT 'usage (recorded) or fee_sheet (edited on OpenEMR''s fee sheet)',
  ADD COLUMN `recorded_by` varchar(255) NULL DEFAULT NULL COMMENT 'OpenEMR username',
  ADD COLUMN `recorded_at` datetime NULL DEFAULT NULL;
#EndIf

-- Every change of an actual, append-only (a trigger refuses UPDATE and DELETE).
#IfNotTable aesthetic_inventory_usage_history
CREATE TABLE `aesthetic_inventory_usage_history` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `pid` bigint NOT NULL,
  `encounter` int NOT NULL,
  `mapping_id` bigint unsigned NOT NULL,
  `drug_id` int NOT NULL,
  `planned_quantity` decimal(14,4) NOT NULL DEFAULT 0,
  `old_actual` decimal(14,4) NULL DEFAULT NULL,
  `new_actual` decimal(14,4) NULL DEFAULT NULL,
  `old_reason` varchar(31) NULL DEFAULT NULL,
  `new_reason` varchar(31) NULL DEFAULT NULL,
  `old_notes` varchar(1000) NULL DEFAULT NULL,
  `new_notes` varchar(1000) NULL DEFAULT NULL,
  `old_lot_id` int NULL DEFAULT NULL,
  `new_lot_id` int NULL DEFAULT NULL,
  `source` varchar(15) NOT NULL DEFAULT 'usage',
  `changed_by` varchar(255) NOT NULL DEFAULT '',
  `changed_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  KEY `visit` (`pid`, `encounter`, `mapping_id`)
) ENGINE=InnoDB;
#EndIf

-- Changes to AUTO_PROC rows made by anyone but the module (OpenEMR's fee sheet lets a
-- biller change a product line's quantity or warehouse, or delete it). Filled by the
-- fail-safe triggers on drug_sales, read and deleted by the reconcile of the visit,
-- which records them as the actual of the mapping instead of undoing them.
#IfNotTable aesthetic_inventory_fee_sheet_edits
CREATE TABLE `aesthetic_inventory_fee_sheet_edits` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `pid` bigint NOT NULL DEFAULT 0,
  `encounter` int NOT NULL DEFAULT 0,
  `mapping_id` bigint unsigned NOT NULL DEFAULT 0,
  `sale_id` int NOT NULL DEFAULT 0,
  `kind` varchar(7) NOT NULL DEFAULT '' COMMENT 'insert, update, delete',
  `old_quantity` int NULL DEFAULT NULL,
  `new_quantity` int NULL DEFAULT NULL,
  `old_inventory_id` int NULL DEFAULT NULL,
  `new_inventory_id` int NULL DEFAULT NULL,
  `username` varchar(255) NULL DEFAULT NULL COMMENT 'drug_sales.user of an inserted or re-assigned row',
  `edited_at` datetime(6) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `visit` (`pid`, `encounter`)
) ENGINE=InnoDB;
#EndIf

-- The variance report reads records by time.
#IfNotIndex aesthetic_inventory_usage aesthetic_inventory_recorded
CREATE INDEX `aesthetic_inventory_recorded` ON `aesthetic_inventory_usage` (`recorded_at`);
#EndIf
