<?php
// A small stand-in for OpenEMR's database layer (library/sql.inc.php: sqlQuery,
// sqlStatement, sqlFetchArray, sqlInsert) for php-cli without a MySQL extension: each
// statement goes to the `mariadb` command-line client, binds substituted as quoted
// literals (as ADOdb does when it emulates binds). Connection from the environment:
// OE_DB_HOST, OE_DB_PORT, OE_DB_USER, OE_DB_PASSWORD, OE_DB_NAME.
// Written for the tests; it contains no OpenEMR code.

function oe_literal($value): string
{
    if ($value === null) {
        return 'NULL';
    }
    $s = (string) $value;
    return "'" . str_replace(["\\", "'"], ["\\\\", "\\'"], $s) . "'";
}

function oe_bind(string $sql, array $binds): string
{
    $out = '';
    $i = 0;
    $quote = null;
    $n = strlen($sql);
    for ($k = 0; $k < $n; $k++) {
        $c = $sql[$k];
        if ($quote !== null) {
            if ($c === $quote) {
                $quote = null;
            }
            $out .= $c;
        } elseif ($c === "'" || $c === '"') {
            $quote = $c;
            $out .= $c;
        } elseif ($c === '?') {
            $out .= oe_literal($binds[$i++] ?? null);
        } else {
            $out .= $c;
        }
    }
    return $out;
}

function oe_run(string $sql): array
{
    $cmd = [
        'mariadb', '--batch', '--raw', '--default-character-set=utf8mb4',
        '--host=' . getenv('OE_DB_HOST'), '--port=' . getenv('OE_DB_PORT'),
        '--user=' . getenv('OE_DB_USER'), getenv('OE_DB_NAME'),
    ];
    $env = ['MYSQL_PWD' => (string) getenv('OE_DB_PASSWORD'), 'PATH' => getenv('PATH')];
    $proc = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']],
                      $pipes, null, $env);
    fwrite($pipes[0], "SET SESSION sql_mode = '';\n" . $sql . ";\n");
    fclose($pipes[0]);
    $out = stream_get_contents($pipes[1]);
    $err = stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    if (proc_close($proc) !== 0) {
        fwrite(STDERR, "SQL failed: $err\n$sql\n");
        exit(2);
    }
    $lines = $out === '' ? [] : explode("\n", rtrim($out, "\n"));
    if (!$lines) {
        return [];
    }
    $names = explode("\t", array_shift($lines));
    $rows = [];
    foreach ($lines as $line) {
        $values = array_map(fn ($v) => $v === 'NULL' ? null : $v, explode("\t", $line));
        $rows[] = array_combine($names, $values);
    }
    return $rows;
}

class OeResult
{
    public function __construct(public array $rows)
    {
    }
}

function sqlStatement($sql, $binds = [])
{
    return new OeResult(oe_run(oe_bind($sql, (array) $binds)));
}

function sqlFetchArray($res)
{
    return array_shift($res->rows) ?? false;
}

function sqlQuery($sql, $binds = [])
{
    $rows = oe_run(oe_bind($sql, (array) $binds));
    return $rows[0] ?? false;
}

function sqlInsert($sql, $binds = [])
{
    $rows = oe_run(oe_bind($sql, (array) $binds) . ";\nSELECT LAST_INSERT_ID() AS id");
    return (int) ($rows[0]['id'] ?? 0);
}

// Translation and escaping helpers OpenEMR's files call at load time.
function xl($s)
{
    return $s;
}

function xlt($s)
{
    return $s;
}

function text($s)
{
    return htmlspecialchars((string) $s, ENT_QUOTES);
}

function errorLogEscape($s)
{
    return (string) $s;
}
