<?php

/**
 * Menu target: mint a launch token for the signed-in OpenEMR user and send the browser
 * to the module's review page. OpenEMR's globals.php enforces the OpenEMR session.
 */

require_once __DIR__ . '/../../../../globals.php';
require_once __DIR__ . '/../src/LaunchToken.php';

$config = is_file(__DIR__ . '/../config.php') ? (require __DIR__ . '/../config.php') : [];
$secret = (string)($config['secret'] ?? '');
$url = (string)($config['url'] ?? '/aesthetic-inventory');
$user = (string)($_SESSION['authUser'] ?? '');
// OpenEMR multisite: the site the user signed in to (login's ?site=, 'default' otherwise)
$site = (string)($_SESSION['site_id'] ?? '');

if ($secret === '' || $user === '') {
    http_response_code(503);
    echo 'Aesthetic Inventory is not configured; ask the administrator.';
    exit;
}
header('Location: ' . rtrim($url, '/') . '/launch?token=' . rawurlencode(aesthetic_inventory_mint_token($secret, $user, null, 60, null, $site)));
