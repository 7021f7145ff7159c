-- Aesthetic Inventory 519: the consumption engine's set-aside queue and stock-arrival queue.
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- A visit whose reconcile failed is set aside, not retried every second: its queue
-- rows carry the attempts so far, the last error (first line) and when to try again
-- (exponential backoff). NULL next_try_at = due now (a fresh change).
#IfMissingColumn aesthetic_inventory_change_queue attempts
ALTER TABLE `aesthetic_inventory_change_queue`
  ADD COLUMN `attempts` int NOT NULL DEFAULT 0 COMMENT 'failed reconciles so far';
#EndIf

#IfMissingColumn aesthetic_inventory_change_queue last_error
ALTER TABLE `aesthetic_inventory_change_queue`
  ADD COLUMN `last_error` varchar(255) NULL DEFAULT NULL COMMENT 'first line of the last failure';
#EndIf

#IfMissingColumn aesthetic_inventory_change_queue next_try_at
ALTER TABLE `aesthetic_inventory_change_queue`
  ADD COLUMN `next_try_at` datetime(6) NULL DEFAULT NULL COMMENT 'set aside until then';
#EndIf

#IfNotIndex aesthetic_inventory_change_queue next_try_at
CREATE INDEX `next_try_at` ON `aesthetic_inventory_change_queue` (`next_try_at`);
#EndIf

-- Products that gained stock (filled by a fail-safe trigger on drug_sales: every
-- purchase, transfer in or adjustment up that OpenEMR's lot screen writes).
-- Append-only (no unique key: a trigger insert never waits on another writer's row
-- lock); the worker collapses the rows per product, reconciles the visits short of
-- each product, oldest first, and deletes the rows it read.
#IfNotTable aesthetic_inventory_stock_queue
CREATE TABLE `aesthetic_inventory_stock_queue` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `drug_id` int NOT NULL,
  `queued_at` datetime(6) NOT NULL,
  PRIMARY KEY (`id`),
  KEY `drug_id` (`drug_id`)
) ENGINE=InnoDB;
#EndIf

-- Short visits of one product are looked up when it gains stock.
#IfNotIndex aesthetic_inventory_usage drug_shortage
CREATE INDEX `drug_shortage` ON `aesthetic_inventory_usage` (`drug_id`, `shortage_units`);
#EndIf
