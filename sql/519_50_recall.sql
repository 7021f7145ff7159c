-- Aesthetic Inventory: the recall room (issue 19, part 2).
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- One row per recall of a lot number (optionally of one product). open_key is
-- "lot|drug_id" while the recall is open and NULL once closed: the unique key makes a
-- second `recall open` of the same lot find the first instead of adding another.
#IfNotTable aesthetic_inventory_recall
CREATE TABLE `aesthetic_inventory_recall` (
  `id` int unsigned NOT NULL AUTO_INCREMENT,
  `lot_number` varchar(20) NOT NULL,
  `drug_id` int NULL DEFAULT NULL COMMENT 'NULL = every product with this lot number',
  `reason` varchar(1000) NOT NULL,
  `status` varchar(15) NOT NULL DEFAULT 'open' COMMENT 'open or closed',
  `open_key` varchar(64) NULL DEFAULT NULL,
  `quarantine_warehouse` varchar(31) NOT NULL DEFAULT '',
  `opened_by` varchar(255) NOT NULL,
  `opened_at` datetime NOT NULL,
  `closed_by` varchar(255) NULL DEFAULT NULL,
  `closed_at` datetime NULL DEFAULT NULL,
  `close_note` varchar(1000) NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `aesthetic_inventory_recall_open` (`open_key`),
  KEY `aesthetic_inventory_recall_lot` (`lot_number`)
) ENGINE=InnoDB;
#EndIf

-- The provider messages a recall wrote (one pnotes row per provider): a second run
-- finds them and writes none again.
#IfNotTable aesthetic_inventory_recall_notice
CREATE TABLE `aesthetic_inventory_recall_notice` (
  `recall_id` int unsigned NOT NULL,
  `provider` varchar(255) NOT NULL COMMENT 'users.username the message is assigned to',
  `pnote_id` bigint NOT NULL,
  `patients` int NOT NULL DEFAULT 0,
  `created_at` datetime NOT NULL,
  PRIMARY KEY (`recall_id`, `provider`)
) ENGINE=InnoDB;
#EndIf

-- Who did what to a recall, when and why (append-only by convention: nothing in the
-- module updates or deletes these rows).
#IfNotTable aesthetic_inventory_recall_audit
CREATE TABLE `aesthetic_inventory_recall_audit` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `recall_id` int unsigned NOT NULL,
  `action` varchar(15) NOT NULL COMMENT 'open, quarantine, notify, close',
  `user` varchar(255) NOT NULL,
  `at` datetime NOT NULL,
  `detail` varchar(1000) NOT NULL DEFAULT '',
  PRIMARY KEY (`id`),
  KEY `aesthetic_inventory_recall_audit_recall` (`recall_id`, `id`)
) ENGINE=InnoDB;
#EndIf
