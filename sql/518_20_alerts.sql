-- Aesthetic Inventory: alert state, notification outbox and service claims.
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

#IfNotTable aesthetic_inventory_alert_state
CREATE TABLE `aesthetic_inventory_alert_state` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `kind` varchar(32) NOT NULL COMMENT 'low_stock, out_of_stock, expiring, expired, shortage',
  `item_key` varchar(128) NOT NULL COMMENT 'drug_id, inventory_id or pid-encounter-mapping',
  `state` varchar(16) NOT NULL DEFAULT 'open' COMMENT 'open or resolved',
  `first_seen` datetime NOT NULL,
  `last_seen` datetime NOT NULL,
  `last_notified` datetime NULL DEFAULT NULL,
  `resolved_at` datetime NULL DEFAULT NULL,
  `notify_count` int NOT NULL DEFAULT 0,
  PRIMARY KEY (`id`),
  UNIQUE KEY `kind_item` (`kind`, `item_key`),
  KEY `state` (`state`)
) ENGINE=InnoDB;
#EndIf

#IfNotTable aesthetic_inventory_outbox
CREATE TABLE `aesthetic_inventory_outbox` (
  `id` bigint unsigned NOT NULL AUTO_INCREMENT,
  `channel` varchar(16) NOT NULL COMMENT 'crm, email, webhook, message',
  `idempotency_key` varchar(96) NOT NULL,
  `subject` varchar(255) NOT NULL DEFAULT '',
  `body_text` mediumtext NOT NULL,
  `body_html` mediumtext NOT NULL,
  `payload_json` mediumtext NOT NULL,
  `status` varchar(16) NOT NULL DEFAULT 'pending' COMMENT 'pending or delivered',
  `attempts` int NOT NULL DEFAULT 0,
  `next_attempt_at` datetime NOT NULL,
  `last_error` varchar(500) NOT NULL DEFAULT '',
  `created_at` datetime NOT NULL,
  `delivered_at` datetime NULL DEFAULT NULL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `idempotency_key` (`idempotency_key`),
  KEY `due` (`status`, `next_attempt_at`)
) ENGINE=InnoDB;
#EndIf

#IfNotTable aesthetic_inventory_service_claims
CREATE TABLE `aesthetic_inventory_service_claims` (
  `name` varchar(31) NOT NULL COMMENT 'background_services.name',
  `claimed_by` varchar(255) NOT NULL COMMENT 'host:pid of the claiming process',
  `claimed_at` datetime NOT NULL,
  PRIMARY KEY (`name`)
) ENGINE=InnoDB;
#EndIf
