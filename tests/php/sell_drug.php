<?php
// php sell_drug.php FILE DRUG_ID QUANTITY USER DEFAULT_WAREHOUSE PID ENCOUNTER TESTONLY DATE
// Loads the file defining OpenEMR's sellDrug() over our database stand-in, calls it as
// the fee sheet does and prints {"result": ...} as JSON.
require __DIR__ . '/openemr_sql.php';
[, $file, $drug, $qty, $user, $warehouse, $pid, $encounter, $testonly, $date] = $argv;
$GLOBALS['pid'] = (int) $pid;
$GLOBALS['practice_return_email_path'] = '';
$_SESSION = ['authUser' => $user];
require $file;
$expired = null;
$result = sellDrug((int) $drug, (int) $qty, 0, (int) $pid, (int) $encounter, 0, $date, $user,
                   $warehouse, $testonly === '1', $expired);
echo json_encode(['result' => $result]), "\n";
