-- Aesthetic Inventory: consumption engine tables and the indexes its queries need.
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- Planned versus allocated usage per visit and mapping (the exact planned quantity
-- is kept here because drug_sales.quantity is an INT). shortage_units > 0 is an
-- open shortage: the alerts scan reads it, the sweep fills it when stock arrives.
#IfNotTable aesthetic_inventory_usage
CREATE TABLE `aesthetic_inventory_usage` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `pid` bigint NOT NULL,
  `encounter` int NOT NULL,
  `mapping_id` bigint unsigned NOT NULL COMMENT 'procedure_products.id (may have been deleted since)',
  `drug_id` int NOT NULL,
  `code_type` varchar(31) NOT NULL DEFAULT '',
  `code` varchar(64) NOT NULL DEFAULT '',
  `planned_quantity` decimal(14,4) NOT NULL DEFAULT 0 COMMENT 'exact units x mapping quantity',
  `required_units` int NOT NULL DEFAULT 0 COMMENT 'planned rounded up',
  `allocated_units` int NOT NULL DEFAULT 0 COMMENT 'held by AUTO_PROC rows of this visit',
  `shortage_units` int NOT NULL DEFAULT 0 COMMENT 'required - allocated when positive',
  `updated_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `visit_mapping` (`pid`, `encounter`, `mapping_id`),
  KEY `shortage_units` (`shortage_units`)
) ENGINE=InnoDB;
#EndIf

-- Visits whose billing lines changed (filled by triggers on billing, drained by
-- the worker with FOR UPDATE SKIP LOCKED).
#IfNotTable aesthetic_inventory_change_queue
CREATE TABLE `aesthetic_inventory_change_queue` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `pid` bigint NOT NULL DEFAULT 0,
  `encounter` int NOT NULL DEFAULT 0,
  `queued_at` datetime(6) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `visit` (`pid`, `encounter`)
) ENGINE=InnoDB;
#EndIf

-- Candidate lots of a product are read (and locked) by drug_id; OpenEMR has only
-- the primary key on drug_inventory.
#IfNotIndex drug_inventory aesthetic_inventory_drug
CREATE INDEX `aesthetic_inventory_drug` ON `drug_inventory` (`drug_id`, `inventory_id`);
#EndIf

-- The AUTO_PROC rows of a visit are read (and locked) by pid and encounter;
-- without it every reconcile would scan and lock the whole ledger.
#IfNotIndex drug_sales aesthetic_inventory_visit
CREATE INDEX `aesthetic_inventory_visit` ON `drug_sales` (`pid`, `encounter`);
#EndIf

-- The billing lines of a visit; OpenEMR only indexes billing(pid).
#IfNotIndex billing aesthetic_inventory_visit
CREATE INDEX `aesthetic_inventory_visit` ON `billing` (`pid`, `encounter`);
#EndIf

-- The sweep looks for billing lines changed since a date.
#IfNotIndex billing aesthetic_inventory_date
CREATE INDEX `aesthetic_inventory_date` ON `billing` (`date`);
#EndIf
