<?php

/**
 * Aesthetic Inventory: the short-lived launch token that carries the signed-in OpenEMR
 * user to the module's review page, so the nurse does not sign in twice.
 *
 * Format: base64url(JSON {"u": username, "iat": issued, "exp": expires, "n": nonce
 * [, "site": OpenEMR site id]}) "."
 * hex HMAC-SHA256 of the first part, keyed with the secret shared with the Python side
 * (setting openemr_launch_secret). The Python server refuses it after its expiry (60 s),
 * when issued more than a few seconds in its future, and when its random nonce was used
 * before (single use). With OpenEMR multisite the token names the site the user signed in
 * to ($_SESSION['site_id']), and the Python side signs the browser in to that site only.
 * No OpenEMR code is needed here, so php-cli tests can load this file alone.
 */

if (!function_exists('aesthetic_inventory_b64url')) {
    function aesthetic_inventory_b64url(string $raw): string
    {
        return rtrim(strtr(base64_encode($raw), '+/', '-_'), '=');
    }
}

if (!function_exists('aesthetic_inventory_mint_token')) {
    function aesthetic_inventory_mint_token(string $secret, string $username, ?int $now = null, int $ttl = 60, ?string $nonce = null, ?string $site = null): string
    {
        if ($secret === '') {
            throw new InvalidArgumentException('launch secret is not configured');
        }
        $issued = $now ?? time();
        $nonce = $nonce ?? bin2hex(random_bytes(16));
        $fields = ['u' => $username, 'iat' => $issued, 'exp' => $issued + $ttl, 'n' => $nonce];
        if ($site !== null && $site !== '') {
            $fields['site'] = $site;
        }
        $payload = json_encode($fields, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        $body = aesthetic_inventory_b64url($payload);
        return $body . '.' . hash_hmac('sha256', $body, $secret);
    }
}
