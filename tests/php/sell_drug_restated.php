<?php
// OpenEMR's sellDrug() lot selection (interface/drugs/drugs.inc.php, openemr/openemr
// master, read for this test), restated in our own words because OpenEMR's code is not
// copied into this repository. What matters for a recall, kept exactly:
// - lots: same product, not destroyed, on_hand != 0, LEFT JOIN list_options (list
//   'warehouse', activity = 1) for the warehouse's seq;
// - SELL_FROM_ONE_WAREHOUSE (true in OpenEMR): with a default warehouse only its lots;
// - order: default warehouse first, lo.seq, expiration, lot_number, inventory_id;
// - a lot outside the user's default warehouse whose seq is above 99 is skipped;
// - an expired lot (expiration <= sale date) is skipped;
// - a lot is taken when it holds stock and (combining allowed or it covers the rest);
// - test only: true when the whole quantity is covered; otherwise nothing is sold and 0
//   is returned unless it is covered, then one UPDATE + INSERT per lot taken.
// Set AESTHETIC_INVENTORY_OPENEMR_DRUGS_INC to OpenEMR's own file to run the original.

function sellDrug($drug_id, $quantity, $fee, $patient_id = 0, $encounter_id = 0,
                  $prescription_id = 0, $sale_date = '', $user = '', $default_warehouse = '',
                  $testonly = false, &$expiredlots = null, $pricelevel = '', $selector = '')
{
    if ($default_warehouse === '') {
        $u = sqlQuery("SELECT default_warehouse FROM users WHERE username = ?", [$user]);
        $default_warehouse = $u ? (string) $u['default_warehouse'] : '';
    }
    $drug = sqlQuery("SELECT allow_combining, dispensable FROM drugs WHERE drug_id = ?", [$drug_id]);
    if (!$drug['dispensable']) {
        return true;
    }
    $combine = $prescription_id ? 0 : (int) $drug['allow_combining'];
    $sql = "SELECT di.*, lo.option_id, lo.seq FROM drug_inventory AS di " .
        "LEFT JOIN list_options AS lo ON lo.list_id = 'warehouse' AND " .
        "lo.option_id = di.warehouse_id AND lo.activity = 1 " .
        "WHERE di.drug_id = ? AND di.destroy_date IS NULL AND di.on_hand != 0 ";
    $binds = [$drug_id];
    if ($default_warehouse) {
        $sql .= "AND di.warehouse_id = ? ";
        $binds[] = $default_warehouse;
    }
    $first = $default_warehouse === '' ? '' : "di.warehouse_id != " . oe_literal($default_warehouse) . ", ";
    $res = sqlStatement($sql . "ORDER BY " . $first . "lo.seq, di.expiration, di.lot_number, di.inventory_id", $binds);
    $left = $quantity;
    $taken = [];
    while ($lot = sqlFetchArray($res)) {
        $seq = empty($lot['seq']) ? 0 : $lot['seq'] + 0;
        if ($lot['warehouse_id'] != $default_warehouse && $seq > 99) {
            continue;
        }
        if (!empty($lot['expiration']) && $lot['expiration'] <= $sale_date) {
            continue;
        }
        if ($lot['on_hand'] > 0 && $left > 0 && ($combine || $lot['on_hand'] >= $left)) {
            $taken[] = $lot;
            $left -= $lot['on_hand'];
        }
    }
    if ($testonly) {
        return $left <= 0;
    }
    if ($left > 0) {
        return 0;
    }
    $rest = $quantity;
    $sale_id = 0;
    foreach ($taken as $lot) {
        $qty = min($rest, $lot['on_hand']);
        $rest -= $qty;
        sqlStatement("UPDATE drug_inventory SET on_hand = on_hand - ? WHERE inventory_id = ?",
                     [$qty, $lot['inventory_id']]);
        $sale_id = sqlInsert("INSERT INTO drug_sales (drug_id, inventory_id, prescription_id, " .
            "pid, encounter, user, sale_date, quantity, fee, pricelevel, selector) VALUES " .
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", [$drug_id, $lot['inventory_id'],
            $prescription_id, $patient_id, $encounter_id, $user, $sale_date, $qty, $fee,
            $pricelevel, $selector]);
    }
    return $sale_id;
}
