-- Aesthetic Inventory 519_40: open containers (vials) with a beyond-use clock (issue 18).
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.
--
-- A product counted in units (counting_unit set, units_per_package > 1) is drawn from
-- containers: a container is one package opened from a lot. OpenEMR's own rows stay
-- the ledger (drug_inventory.on_hand and drug_sales hold counting units); these tables
-- only say which container each draw came from, and what was left as waste.

-- The product columns the products commands manage (also added by 519_30, whichever
-- file runs first; the definitions are identical).
#IfMissingColumn aesthetic_inventory_product_stock counting_unit
ALTER TABLE `aesthetic_inventory_product_stock` ADD COLUMN `counting_unit` varchar(31) NOT NULL DEFAULT '';
#EndIf
#IfMissingColumn aesthetic_inventory_product_stock package_unit
ALTER TABLE `aesthetic_inventory_product_stock` ADD COLUMN `package_unit` varchar(31) NOT NULL DEFAULT '';
#EndIf
#IfMissingColumn aesthetic_inventory_product_stock beyond_use_hours
ALTER TABLE `aesthetic_inventory_product_stock` ADD COLUMN `beyond_use_hours` int(11) DEFAULT NULL;
#EndIf
#IfMissingColumn aesthetic_inventory_product_stock diluent_ml
ALTER TABLE `aesthetic_inventory_product_stock` ADD COLUMN `diluent_ml` decimal(8,3) DEFAULT NULL;
#EndIf
#IfMissingColumn aesthetic_inventory_product_stock single_patient
ALTER TABLE `aesthetic_inventory_product_stock` ADD COLUMN `single_patient` tinyint(1) NOT NULL DEFAULT 0;
#EndIf

-- One row per opened package. opened_at is the encounter time of the first draw (not
-- the save time); units = the package size at opening; left = units - wasted - what
-- its draws hold (the draw rows are the one record of what was drawn).
-- Keys: open containers of a product (the draw's lookup, locked by id), the waste
-- job's scan of open containers by beyond-use time, and a lot's containers.
#IfNotTable aesthetic_inventory_container
CREATE TABLE `aesthetic_inventory_container` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `drug_id` int(11) NOT NULL,
  `inventory_id` int(11) NOT NULL COMMENT 'drug_inventory lot the package came from',
  `warehouse_id` varchar(31) NOT NULL DEFAULT '',
  `opened_at` datetime NOT NULL,
  `beyond_use_at` datetime DEFAULT NULL COMMENT 'NULL = no clock',
  `units` int(11) NOT NULL COMMENT 'package size at opening, counting units',
  `units_wasted` int(11) NOT NULL DEFAULT 0,
  `closed_at` datetime DEFAULT NULL,
  `close_reason` varchar(31) NOT NULL DEFAULT '',
  `single_patient` tinyint(1) NOT NULL DEFAULT 0,
  `opened_pid` bigint(20) NOT NULL DEFAULT 0 COMMENT 'visit of the first draw (0: stock use)',
  `opened_encounter` int(11) NOT NULL DEFAULT 0,
  `waste_sale_id` int(11) DEFAULT NULL COMMENT 'drug_sales adjustment of the waste',
  `closed_by` varchar(255) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  KEY `open_by_drug` (`drug_id`, `closed_at`, `warehouse_id`, `opened_at`),
  KEY `waste_due` (`closed_at`, `beyond_use_at`),
  KEY `inventory_id` (`inventory_id`)
) ENGINE=InnoDB;
#EndIf

-- One row per draw: the drug_sales row (AUTO_PROC for a visit, a Consumption for
-- stock used without a patient) and the container it came from. A sale that spans
-- two containers of one lot has two rows.
#IfNotTable aesthetic_inventory_container_draw
CREATE TABLE `aesthetic_inventory_container_draw` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `container_id` int(11) NOT NULL,
  `sale_id` int(11) NOT NULL,
  `pid` bigint(20) NOT NULL DEFAULT 0,
  `encounter` int(11) NOT NULL DEFAULT 0,
  `units` int(11) NOT NULL,
  `drawn_at` datetime NOT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `sale_container` (`sale_id`, `container_id`),
  KEY `container_id` (`container_id`),
  KEY `visit` (`pid`, `encounter`)
) ENGINE=InnoDB;
#EndIf
