-- Aesthetic Inventory: cluster-safe coordination (issue 20).
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- Named locks as rows. GET_LOCK is local to one server: on a Galera cluster (every
-- node takes writes) two nodes both "hold" it. A row written in the same transaction
-- as the work it guards is replicated and certified with that work, so two nodes can
-- never both commit under it. The migration lock is a lease (expires_at) because DDL
-- commits on its own.
#IfNotTable aesthetic_inventory_locks
CREATE TABLE `aesthetic_inventory_locks` (
  `name` varchar(64) NOT NULL COMMENT 'alert_scan, migrate, ...',
  `holder` varchar(255) NOT NULL DEFAULT '' COMMENT 'host:pid of the last holder',
  `acquired_at` datetime NULL DEFAULT NULL,
  `expires_at` datetime NULL DEFAULT NULL COMMENT 'leases only; NULL = held by a transaction',
  PRIMARY KEY (`name`)
) ENGINE=InnoDB;
#EndIf

-- Outbox delivery is claim (committed, with an owner and a lease) -> send -> confirm,
-- so two services on two nodes never send the same row at once.
#IfMissingColumn aesthetic_inventory_outbox claimed_by
ALTER TABLE `aesthetic_inventory_outbox`
  ADD COLUMN `claimed_by` varchar(255) NULL DEFAULT NULL COMMENT 'host:pid sending it now',
  ADD COLUMN `claim_expires_at` datetime NULL DEFAULT NULL COMMENT 'another sender may take it after this';
#EndIf

-- The alert scan's lock row: every scan locks it (SELECT ... FOR UPDATE) before it
-- reads, and a scan that writes also updates it, so two scans that write can never
-- both commit, on one server or across cluster nodes.
#IfNotRow aesthetic_inventory_locks name alert_scan
INSERT INTO `aesthetic_inventory_locks` (`name`, `holder`) VALUES ('alert_scan', '');
#EndIf
