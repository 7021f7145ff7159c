<?php

/**
 * Aesthetic Inventory alerts: bridge for OpenEMR's background services runner.
 *
 * OpenEMR's library/ajax/execute_background_services.php claims the
 * 'AestheticInventoryAlerts' row of background_services (running = 1, next_run
 * pushed by execute_interval), then require_once()s this file (the row's
 * require_once column, /library/aesthetic_inventory_alerts.php) and calls
 * aesthetic_inventory_alerts_run(); afterwards it sets running = 0.
 *
 * This file only runs the Python module's command `aesthetic-inventory alerts run`
 * (one scan, outbox, delivery). It never throws and never calls exit/die, so a
 * problem here cannot stop OpenEMR's other background services.
 *
 * Installed by `aesthetic-inventory alerts install-bridge --openemr-dir DIR`, which
 * fills in the two defaults below. Environment variables override them:
 *   AESTHETIC_INVENTORY_BIN     path of the aesthetic-inventory console script
 *   AESTHETIC_INVENTORY_CONFIG  TOML settings file (database_url, channels, ...)
 */

if (!function_exists('aesthetic_inventory_alerts_run')) {
    function aesthetic_inventory_alerts_run(): void
    {
        $bin = getenv('AESTHETIC_INVENTORY_BIN') ?: '@AESTHETIC_INVENTORY_BIN@';
        $config = getenv('AESTHETIC_INVENTORY_CONFIG') ?: '@AESTHETIC_INVENTORY_CONFIG@';
        if ($config === '@' . 'AESTHETIC_INVENTORY_CONFIG@') {
            $config = '';
        }
        if ($bin === '' || !is_file($bin) || !is_executable($bin)) {
            error_log('aesthetic_inventory_alerts: console script not found or not executable: ' . $bin);
            return;
        }
        $command = escapeshellarg($bin);
        if ($config !== '') {
            $command .= ' --config ' . escapeshellarg($config);
        }
        $command .= ' alerts run 2>&1';
        $output = [];
        $status = 0;
        try {
            exec($command, $output, $status);
        } catch (\Throwable $e) {
            error_log('aesthetic_inventory_alerts: ' . $e->getMessage());
            return;
        }
        if ($status !== 0) {
            // The command prints one line and never a password.
            error_log('aesthetic_inventory_alerts: alerts run exited ' . $status . ': ' . implode(' ', array_slice($output, -3)));
        }
    }
}
