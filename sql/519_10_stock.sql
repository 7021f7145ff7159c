-- Aesthetic Inventory for OpenEMR: database version 519, stock in and around (issue 11).
-- Receiving, transfers, adjustments, counts and destruction write OpenEMR's own rows
-- (drug_sales / drug_inventory, as interface/drugs/add_edit_lot.php and destroy_lot.php
-- do); these module tables add what OpenEMR lacks: costs, suppliers with a lead time,
-- deliveries and counts as documents, and an immutable movement ledger. The ledger's
-- BEFORE UPDATE/DELETE guards are triggers (body with ';'), installed by migrate from
-- aesthetic_inventory.stock.triggers, not from this file.

-- Per product: weighted average and last purchase cost, package size, min level
#IfNotTable aesthetic_inventory_product_stock
CREATE TABLE `aesthetic_inventory_product_stock` (
  `drug_id` int(11) NOT NULL,
  `average_cost` decimal(14,4) NOT NULL DEFAULT 0.0000,
  `last_cost` decimal(14,4) NOT NULL DEFAULT 0.0000,
  `units_per_package` int(11) NOT NULL DEFAULT 1,
  `min_level` int(11) DEFAULT NULL,
  `updated_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  PRIMARY KEY (`drug_id`)
) ENGINE=InnoDB;
#EndIf

-- Suppliers by the name used in drugs.supplier_name, with their delivery lead time
#IfNotTable aesthetic_inventory_supplier
CREATE TABLE `aesthetic_inventory_supplier` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `name` varchar(255) NOT NULL,
  `lead_time_days` int(11) NOT NULL DEFAULT 7,
  `created_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`),
  UNIQUE KEY `name` (`name`)
) ENGINE=InnoDB;
#EndIf

-- One row per received delivery (the reference of its RECEIVE movements)
#IfNotTable aesthetic_inventory_delivery
CREATE TABLE `aesthetic_inventory_delivery` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `supplier` varchar(255) NOT NULL DEFAULT '',
  `invoice` varchar(255) NOT NULL DEFAULT '',
  `source` varchar(255) NOT NULL DEFAULT '',
  `lines` int(11) NOT NULL DEFAULT 0,
  `units` int(11) NOT NULL DEFAULT 0,
  `total_cost` decimal(14,2) NOT NULL DEFAULT 0.00,
  `user` varchar(255) NOT NULL DEFAULT '',
  `received_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB;
#EndIf

-- One row per stock take (the reference of its COUNT adjustments)
#IfNotTable aesthetic_inventory_stock_count
CREATE TABLE `aesthetic_inventory_stock_count` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `source` varchar(255) NOT NULL DEFAULT '',
  `lots` int(11) NOT NULL DEFAULT 0,
  `adjusted` int(11) NOT NULL DEFAULT 0,
  `variance_units` int(11) NOT NULL DEFAULT 0,
  `variance_value` decimal(14,2) NOT NULL DEFAULT 0.00,
  `user` varchar(255) NOT NULL DEFAULT '',
  `counted_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB;
#EndIf

-- The immutable movement ledger: inserted, never updated or deleted
#IfNotTable aesthetic_inventory_stock_ledger
CREATE TABLE `aesthetic_inventory_stock_ledger` (
  `id` bigint(20) unsigned NOT NULL AUTO_INCREMENT,
  `movement` varchar(16) NOT NULL,
  `inventory_id` int(11) NOT NULL,
  `drug_id` int(11) NOT NULL,
  `quantity` int(11) NOT NULL,
  `unit_cost` decimal(14,4) NOT NULL DEFAULT 0.0000,
  `reference_type` varchar(31) NOT NULL DEFAULT '',
  `reference_id` varchar(64) NOT NULL DEFAULT '',
  `sale_id` int(11) DEFAULT NULL,
  `reason` varchar(16) NOT NULL DEFAULT '',
  `user` varchar(255) NOT NULL DEFAULT '',
  `notes` varchar(255) NOT NULL DEFAULT '',
  `created_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (`id`),
  KEY `inventory_id` (`inventory_id`),
  KEY `drug_created` (`drug_id`, `created_at`),
  KEY `created_at` (`created_at`),
  KEY `reference` (`reference_type`, `reference_id`)
) ENGINE=InnoDB;
#EndIf
