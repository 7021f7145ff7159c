-- Aesthetic Inventory: tamper evidence for the movement ledger (issue 17 G).
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- Checkpoints of a hash chain over aesthetic_inventory_stock_ledger. Each row seals the
-- ledger rows with id in (previous through_id, through_id]: their count, a digest of
-- their contents and the chain SHA-256(previous chain | through_id | row_count |
-- digest). doctor recomputes every segment from the ledger: a row deleted, changed or
-- truncated away shows as a count or digest that went backwards. Append-only: two
-- triggers (installed by migrate) refuse UPDATE and DELETE.
#IfNotTable aesthetic_inventory_ledger_seal
CREATE TABLE `aesthetic_inventory_ledger_seal` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `through_id` bigint(20) unsigned NOT NULL,
  `row_count` bigint(20) NOT NULL,
  `digest` char(64) NOT NULL,
  `chain` char(64) NOT NULL,
  `sealed_by` varchar(255) NOT NULL DEFAULT '',
  `sealed_at` datetime(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  PRIMARY KEY (`id`),
  UNIQUE KEY `through_id` (`through_id`)
) ENGINE=InnoDB;
#EndIf
