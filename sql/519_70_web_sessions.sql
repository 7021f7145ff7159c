-- Aesthetic Inventory: server-side web sessions and single-use launch tokens (issue 17 E).
-- OpenEMR upgrade dialect: every statement is guarded so the file is safe to re-run.

-- One row per sign-in (a browser session or an API bearer token). The cookie or token
-- carries a random secret; only its SHA-256 is stored, so a copy of this table signs no
-- one in. A request is served only while its row exists, is unexpired and unrevoked:
-- sign-out, `web revoke-sessions --user` and an expiry end it at once in every worker.
#IfNotTable aesthetic_inventory_web_sessions
CREATE TABLE `aesthetic_inventory_web_sessions` (
  `id_hash` char(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'SHA-256 hex of the session secret',
  `kind` varchar(7) CHARACTER SET ascii NOT NULL DEFAULT 'cookie' COMMENT 'cookie or token',
  `username` varchar(255) NOT NULL COMMENT 'OpenEMR users.username',
  `csrf` varchar(64) CHARACTER SET ascii NOT NULL DEFAULT '',
  `created_at` datetime NOT NULL,
  `expires_at` datetime NOT NULL,
  `revoked_at` datetime NULL DEFAULT NULL,
  PRIMARY KEY (`id_hash`),
  KEY `username` (`username`),
  KEY `expires_at` (`expires_at`)
) ENGINE=InnoDB COMMENT='Aesthetic Inventory: web sign-ins (revocable)';
#EndIf

-- Launch tokens minted by OpenEMR's menu are single use: the first use stores the
-- token's nonce; a second use of the same token is refused. Rows expire with the token.
#IfNotTable aesthetic_inventory_web_launch_nonces
CREATE TABLE `aesthetic_inventory_web_launch_nonces` (
  `nonce` varchar(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  `username` varchar(255) NOT NULL,
  `used_at` datetime NOT NULL,
  `expires_at` datetime NOT NULL,
  PRIMARY KEY (`nonce`),
  KEY `expires_at` (`expires_at`)
) ENGINE=InnoDB COMMENT='Aesthetic Inventory: used OpenEMR menu launch tokens';
#EndIf
