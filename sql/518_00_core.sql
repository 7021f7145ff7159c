-- Aesthetic Inventory for OpenEMR: database version 518, foundation.
-- OpenEMR directive dialect: every statement is guarded, so the file is safe to
-- re-run after a failure midway (MySQL commits DDL implicitly).
-- OpenEMR's own `version` table is left alone: its upgrader owns it.

-- Product metadata on drugs (products)
#IfMissingColumn drugs aesthetic_category
ALTER TABLE `drugs` ADD COLUMN `aesthetic_category` varchar(63) NOT NULL DEFAULT '';
#EndIf
#IfMissingColumn drugs photo_url
ALTER TABLE `drugs` ADD COLUMN `photo_url` varchar(255) NOT NULL DEFAULT '';
#EndIf
#IfMissingColumn drugs unit_cost
ALTER TABLE `drugs` ADD COLUMN `unit_cost` decimal(12,2) NOT NULL DEFAULT 0.00;
#EndIf
#IfMissingColumn drugs supplier_name
ALTER TABLE `drugs` ADD COLUMN `supplier_name` varchar(255) NOT NULL DEFAULT '';
#EndIf

-- The same metadata per lot on drug_inventory
#IfMissingColumn drug_inventory aesthetic_category
ALTER TABLE `drug_inventory` ADD COLUMN `aesthetic_category` varchar(63) NOT NULL DEFAULT '';
#EndIf
#IfMissingColumn drug_inventory photo_url
ALTER TABLE `drug_inventory` ADD COLUMN `photo_url` varchar(255) NOT NULL DEFAULT '';
#EndIf
#IfMissingColumn drug_inventory unit_cost
ALTER TABLE `drug_inventory` ADD COLUMN `unit_cost` decimal(12,2) NOT NULL DEFAULT 0.00;
#EndIf
#IfMissingColumn drug_inventory supplier_name
ALTER TABLE `drug_inventory` ADD COLUMN `supplier_name` varchar(255) NOT NULL DEFAULT '';
#EndIf

-- Billing code -> product mapping; quantity = inventory units per service unit
#IfNotTable procedure_products
CREATE TABLE `procedure_products` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `code_type` varchar(31) NOT NULL DEFAULT '',
  `code` varchar(64) NOT NULL DEFAULT '',
  `drug_id` int(11) NOT NULL,
  `quantity` decimal(12,4) NOT NULL DEFAULT 1.0000,
  `created_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  `updated_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `code_type_code_drug` (`code_type`, `code`, `drug_id`),
  KEY `drug_id` (`drug_id`),
  CONSTRAINT `procedure_products_drug_fk` FOREIGN KEY (`drug_id`) REFERENCES `drugs` (`drug_id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
#EndIf

-- The alert job, claimed with OpenEMR's background_services protocol.
-- require_once stays NULL until `aesthetic-inventory alerts install-bridge` has copied
-- the PHP bridge into the site: OpenEMR's runner treats a missing include file as a
-- fatal error that stops the rest of its pass, while a NULL include is simply skipped.
-- A claim OpenEMR takes on this row without a bridge is handed back to the module's
-- service at once (see module/alerts/background.py).
#IfNotRow background_services name AestheticInventoryAlerts
INSERT INTO `background_services` (`name`, `title`, `active`, `running`, `execute_interval`, `function`, `require_once`, `sort_order`)
VALUES ('AestheticInventoryAlerts', 'Aesthetic Inventory Alerts', 1, 0, 1440, 'aesthetic_inventory_alerts_run', NULL, 110);
#EndIf

-- Register the module in OpenEMR's module registry
#IfNotRow modules mod_directory aesthetic_inventory
INSERT INTO `modules` (`mod_name`, `mod_directory`, `mod_active`, `mod_ui_name`, `mod_description`, `directory`, `date`, `sql_run`, `type`, `sql_version`, `acl_version`)
VALUES ('AestheticInventory', 'aesthetic_inventory', 1, 'Aesthetic Inventory', 'Aesthetic clinic consumables: fee-sheet consumption of mapped products (first expired, first out) and stock alerts', 'aesthetic_inventory', NOW(), 1, 0, '518', '');
#EndIf
