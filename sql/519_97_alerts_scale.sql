-- Aesthetic Inventory: the incremental alert scan (issue 21: the steady scan looks only
-- at what changed since the last scan).
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- Products whose stock or alert settings changed, one row per change, written by the
-- fail-safe triggers of module/alerts/triggers.py (drug_sales: every stock movement,
-- OpenEMR's and the module's; drugs: reorder point, active, dispensable). A scan reads
-- the rows, re-evaluates those products and deletes exactly the rows it read.
#IfNotTable aesthetic_inventory_alert_change
CREATE TABLE `aesthetic_inventory_alert_change` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `drug_id` int(11) NOT NULL,
  PRIMARY KEY (`id`)
) ENGINE=InnoDB;
#EndIf

-- What the last scan covered: the day and expiry horizon it evaluated, the settings it
-- ran with and when it last looked at everything. One row per scan lock name.
#IfNotTable aesthetic_inventory_alert_watermark
CREATE TABLE `aesthetic_inventory_alert_watermark` (
  `name` varchar(64) NOT NULL COMMENT 'alert_scan',
  `scanned_today` date NOT NULL COMMENT 'the day the last scan evaluated',
  `horizon_end` date NOT NULL COMMENT 'its last expiring day',
  `params` varchar(255) NOT NULL COMMENT 'settings that change what a full scan finds',
  `full_at` datetime NOT NULL COMMENT 'last full scan',
  `scanned_at` datetime NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB;
#EndIf

-- Lots crossing a day boundary (expiring -> expired, entering the horizon) are read by
-- an index range on the expiration date. Additive index only: OpenEMR's writes and a
-- dump's restore are unaffected.
#IfNotIndex drug_inventory aesthetic_inventory_expiration
CREATE INDEX `aesthetic_inventory_expiration` ON `drug_inventory` (`expiration`);
#EndIf

-- A product's usable stock (lots not destroyed, not expired, with stock) summed from
-- the index alone, and its lots near expiry found without reading the rows: the
-- incremental scan re-evaluates a changed product in index reads. Additive index only.
#IfNotIndex drug_inventory aesthetic_inventory_usable
CREATE INDEX `aesthetic_inventory_usable` ON `drug_inventory` (`drug_id`, `destroy_date`, `expiration`, `on_hand`);
#EndIf

-- Lots destroyed in OpenEMR's Destroy Lot screen (it writes only drug_inventory, no
-- movement): the incremental scan reads those destroyed since its last day by range.
#IfNotIndex drug_inventory aesthetic_inventory_destroyed
CREATE INDEX `aesthetic_inventory_destroyed` ON `drug_inventory` (`destroy_date`);
#EndIf

-- Open states due for a reminder (last_notified <= now - reminder), by index range.
#IfNotIndex aesthetic_inventory_alert_state open_due
CREATE INDEX `open_due` ON `aesthetic_inventory_alert_state` (`state`, `last_notified`);
#EndIf
