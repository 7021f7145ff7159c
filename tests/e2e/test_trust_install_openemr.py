"""Issue 17 F and G on the FULL real OpenEMR schema: movements made on OpenEMR's own
lot screen are in the movement ledger with their OpenEMR user; doctor names the lots it
warns about; uninstall checks every privilege before changing anything; the ledger's
seal chain shows rows deleted, truncated or changed; the documented runtime grants run
the module and cannot truncate, alter or un-guard the ledger."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dbtools
import pymysql
import pytest
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.ledger_seal import seal_ledger
from aesthetic_inventory.install.triggers import all_triggers
from sqlalchemy.engine import make_url
from test_doctor_openemr import cli, php, real_schema_db

pytestmark = pytest.mark.e2e

# README "Attach to an OpenEMR site" (the migrating account before this issue).
README_GRANTS = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX, TRIGGER, REFERENCES"


@pytest.fixture
def site(mysql_server: dbtools.ServerInfo) -> Iterator[str]:
    """A migrated real-schema clinic with the sample data (this test's alone)."""
    name = real_schema_db(mysql_server)
    url = mysql_server.database_url(name)
    try:
        assert cli("--database-url", url, "migrate")[0] == 0
        assert cli("--database-url", url, "load-sample")[0] == 0
        yield url
    finally:
        mysql_server.drop_database(name)


def account(server: dbtools.ServerInfo, url: str, user: str, *grants: str) -> str:
    """A new account holding ``grants`` (``{db}`` = the site's database); its URL."""
    database = make_url(url).database
    with server.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw-{user}'")
        for grant in grants:
            cur.execute(grant.format(db=database, user=f"'{user}'@'%'"))
    return make_url(url).set(username=user, password=f"pw-{user}").render_as_string(
        hide_password=False)


def lot_screen(url: str, statements: list[str]) -> int:
    """Run statements as OpenEMR's add_edit_lot.php does; the last insert id."""
    return int(php(url, *statements, "SELECT LAST_INSERT_ID()")[0][0])


def openemr_movements(url: str, drug: int) -> dict[str, int]:
    """Make each lot-screen movement as OpenEMR writes it; the lots by name."""
    sale = ("INSERT INTO drug_sales (drug_id, inventory_id, prescription_id, pid, encounter, "
            "user, sale_date, quantity, fee, xfer_inventory_id, distributor_id, notes, "
            "trans_type) VALUES ({d}, {lot}, '0', '0', '0', '{user}', CURDATE(), {q}, {fee}, "
            "{src}, 0, '{notes}', {t})")
    new_lot = ("INSERT INTO drug_inventory (drug_id, lot_number, manufacturer, expiration, "
               "vendor_id, warehouse_id, on_hand) VALUES ({d}, '{n}', '', '2028-01-31', '', "
               "'{w}', {q})")
    bought = lot_screen(url, [new_lot.format(d=drug, n="OE-1", w="", q=10)])
    php(url, sale.format(d=drug, lot=bought, user="oe_buyer", q=-10, fee="-250.00", src=0,
                         notes="new lot", t=2))
    php(url, f"UPDATE drug_inventory SET on_hand = on_hand + -2 WHERE inventory_id = {bought}",
        sale.format(d=drug, lot=bought, user="oe_nurse", q=2, fee=0, src=0,
                    notes="broken vials", t=5))
    moved = lot_screen(url, [new_lot.format(d=drug, n="OE-1", w="annex", q=3)])
    php(url, sale.format(d=drug, lot=moved, user="oe_nurse", q=-3, fee=0, src=bought,
                         notes="to the annex", t=4),
        f"UPDATE drug_inventory SET on_hand = on_hand - 3 WHERE inventory_id = {bought}")
    php(url, f"UPDATE drug_inventory SET on_hand = on_hand + -1 WHERE inventory_id = {moved}",
        sale.format(d=drug, lot=moved, user="oe_doctor", q=1, fee=0, src=0, notes="demo",
                    t=7))
    php(url, f"UPDATE drug_inventory SET on_hand = on_hand + -1 WHERE inventory_id = {bought}",
        sale.format(d=drug, lot=bought, user="oe_buyer", q=1, fee="25.00", src=0,
                    notes="back to supplier", t=3))
    return {"bought": bought, "moved": moved}


def ledger(url: str, *args: str) -> list[dict]:
    code, out, err = cli("--database-url", url, "ledger", "--format", "json", *args)
    assert code == 0, err
    data = json.loads(out)  # {"report": "ledger", ..., "movements": [...]}
    return data["movements"] if isinstance(data, dict) else data


def test_openemr_lot_screen_movements_are_in_the_ledger_with_their_user(site: str) -> None:
    drug = int(php(site, "SELECT drug_id FROM drug_inventory WHERE lot_number = "
                         "'BTX-24A117'")[0][0])
    lots = openemr_movements(site, drug)
    rows = [(r["movement"], r["inventory_id"], r["quantity"], r["unit_cost"], r["user"],
             r["notes"]) for r in ledger(site, "--product", str(drug))
            if r["reference_type"] == "openemr"]
    b, m = lots["bought"], lots["moved"]
    assert rows == [
        ("RECEIVE", b, 10, "25.0000", "oe_buyer", "new lot"),
        ("ADJUST", b, -2, "0.0000", "oe_nurse", "broken vials"),
        ("TRANSFER", m, 3, "0.0000", "oe_nurse", "to the annex"),
        ("TRANSFER", b, -3, "0.0000", "oe_nurse", "to the annex"),
        ("ISSUE", m, -1, "0.0000", "oe_doctor", "demo"),
        ("RETURN", b, -1, "25.0000", "oe_buyer", "back to supplier"),
    ]
    for lot in (b, m):  # the ledger of each new lot adds up to its on_hand
        on_hand = php(site, f"SELECT on_hand FROM drug_inventory WHERE inventory_id = {lot}")
        assert sum(q for _, i, q, *_ in rows if i == lot) == on_hand[0][0]

    # the module's own writes are ledgered once, by the module
    code, out, err = cli("--database-url", site, "adjust", "--lot", str(b), "--by", "-1",
                         "--reason", "DAMAGED", "--user", "admin")
    assert code == 0, err
    mine = [r for r in ledger(site, "--lot", str(b)) if r["reference_type"] != "openemr"]
    assert [(r["movement"], r["quantity"]) for r in mine] == [("ADJUST", -1)]
    code, out, _ = cli("--database-url", site, "doctor")
    assert code == 0 and "[ok  ] lot ledger:" in out, out


def test_doctor_names_the_first_lots_it_warns_about_and_counts_them(site: str) -> None:
    drug = int(php(site, "SELECT drug_id FROM drug_inventory WHERE lot_number = "
                         "'BTX-24A117'")[0][0])
    for n in range(7):  # OpenEMR's lot form stores a zero date under an empty sql_mode
        php(site, "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand) "
                  f"VALUES ({drug}, 'ZERO-{n}', '0000-00-00', 1)")
    for n in range(6):  # received on the lot screen, then on_hand edited by hand
        lot = lot_screen(site, [
            "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand) "
            f"VALUES ({drug}, 'DRIFT-{n}', '2028-01-31', 4)"])
        php(site, "INSERT INTO drug_sales (drug_id, inventory_id, user, sale_date, quantity, "
                  f"fee, trans_type) VALUES ({drug}, {lot}, 'admin', CURDATE(), -4, 0, 2)",
            f"UPDATE drug_inventory SET on_hand = 9 WHERE inventory_id = {lot}")
    code, out, _ = cli("--database-url", site, "doctor", "--json")
    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    dates, drift = checks["lot dates"], checks["lot ledger"]
    assert dates["status"] == "warn" and "7 lot(s)" in dates["summary"]
    assert "(the first 5 of 7)" in dates["summary"]
    assert dates["problems"][0].startswith("lot ") and "lot number 'ZERO-0'" in dates[
        "problems"][0]
    assert len(dates["problems"]) == 5 and all("expiration 0000-00-00" in p
                                               for p in dates["problems"])
    assert drift["status"] == "warn" and drift["summary"].startswith("6 lot(s) whose on_hand")
    assert "(the first 5 of 6)" in drift["summary"] and len(drift["problems"]) == 5
    assert "lot number 'DRIFT-0'): on_hand 9, rows say 4, drift +5" in drift["problems"][0]


def state(url: str) -> tuple[int, int]:
    tables = php(url, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
                      "DATABASE() AND TABLE_NAME LIKE 'aesthetic%'")[0][0]
    triggers = php(url, "SELECT COUNT(*) FROM information_schema.TRIGGERS "
                        "WHERE TRIGGER_SCHEMA = DATABASE()")[0][0]
    return int(tables), int(triggers)


def test_uninstall_checks_every_privilege_before_changing_anything(
    site: str, mysql_server: dbtools.ServerInfo
) -> None:
    weak = account(mysql_server, site, "aiuninst", f"GRANT {README_GRANTS} ON `{{db}}`.* "
                   "TO {user}")
    try:
        before = state(site)
        assert before[1] == len(all_triggers())
        code, out, _ = cli("--database-url", weak, "uninstall", "--dry-run")
        assert code == 0
        assert "missing privileges (uninstall --yes refuses until they are granted): " \
               "DROP on aesthetic_inventory_" in out
        assert "aesthetic_inventory_stock_ledger, aesthetic_inventory_stock_queue" in out
        assert out.count("DROP on") == 1 and "TRIGGER on" not in out
        code, out, err = cli("--database-url", weak, "uninstall", "--yes")
        assert code == 1 and err.startswith("Error: uninstall needs DROP on aesthetic_")
        assert "nothing was changed" in err and len(err.strip().splitlines()) == 1
        assert state(site) == before  # not half-uninstalled: every trigger is still there

        mysql_server_grant(mysql_server, site, "aiuninst", "DROP")
        code, out, _ = cli("--database-url", weak, "uninstall", "--dry-run")
        assert code == 0 and "missing privileges" not in out
        code, out, err = cli("--database-url", weak, "uninstall", "--yes")
        assert code == 0, err
        assert state(site) == (0, 0)
    finally:
        with mysql_server.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'aiuninst'@'%'")


def mysql_server_grant(server: dbtools.ServerInfo, url: str, user: str, grant: str) -> None:
    with server.cursor() as cur:
        cur.execute(f"GRANT {grant} ON `{make_url(url).database}`.* TO '{user}'@'%'")


def seal_now(url: str) -> str:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            outcome = seal_ledger(conn, sealed_by="test", margin_seconds=0)
            conn.commit()
        return outcome.message
    finally:
        engine.dispose()


def doctor_ledger(url: str) -> tuple[int, dict]:
    code, out, _ = cli("--database-url", url, "doctor", "--json")
    return code, {c["name"]: c for c in json.loads(out)["checks"]}["ledger seal"]


def test_doctor_reports_a_ledger_that_went_backwards(site: str) -> None:
    drug = int(php(site, "SELECT drug_id FROM drug_inventory WHERE lot_number = "
                         "'BTX-24A117'")[0][0])
    openemr_movements(site, drug)
    assert seal_now(site).startswith("sealed 6 ledger row(s) through id ")
    code, check = doctor_ledger(site)
    assert code == 0 and check["status"] == "ok"
    assert check["summary"].startswith("6 row(s) through id ") and "1 seal(s)" in check["summary"]
    php(site, "INSERT INTO drug_sales (drug_id, inventory_id, user, sale_date, quantity, fee, "
              f"trans_type) SELECT {drug}, MAX(inventory_id), 'oe', CURDATE(), 1, 0, 5 "
              "FROM drug_inventory")
    assert seal_now(site).startswith("sealed 7 ledger row(s)")

    # a changed row: the guard trigger dropped by an account with TRIGGER, one row edited
    php(site, "DROP TRIGGER aesthetic_inventory_stock_ledger_bu",
        "UPDATE aesthetic_inventory_stock_ledger SET quantity = 100 ORDER BY id LIMIT 1")
    code, check = doctor_ledger(site)
    assert code == 1 and check["status"] == "fail"
    assert check["summary"] == "the movement ledger went backwards: 1 of 2 seal(s) no longer match"
    assert check["problems"][0].endswith("were changed after they were sealed")
    assert seal_now(site).startswith("not sealed: seal 1: ")  # sealing would hide it

    # TRUNCATE bypasses the DELETE guard: the count went backwards
    php(site, "TRUNCATE TABLE aesthetic_inventory_stock_ledger")
    code, check = doctor_ledger(site)
    assert code == 1 and "1 seal(s)" not in check["summary"]
    assert "the ledger held 6 row(s) through id" in check["problems"][0]
    assert "now 0: 6 row(s) deleted or truncated away" in check["problems"][0]
    # and the seals themselves are append-only
    with pytest.raises(pymysql.err.OperationalError, match="append-only"):
        php(site, "DELETE FROM aesthetic_inventory_ledger_seal")


RUNTIME_GRANTS = (
    "GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.* TO {user}",
    "GRANT TRIGGER ON `{db}`.`billing` TO {user}",
)


def test_runtime_account_runs_the_module_but_cannot_rewrite_the_ledger(
    site: str, mysql_server: dbtools.ServerInfo
) -> None:
    run = account(mysql_server, site, "airun", *RUNTIME_GRANTS)
    try:
        php(site, "INSERT INTO form_encounter (date, pid, encounter) VALUES (NOW(), 7, 42)",
            "INSERT INTO billing (date, code_type, code, pid, encounter, units, activity, fee) "
            "VALUES (NOW(), 'CPT4', '15828', 7, 42, 2, 1, 0)")
        code, out, err = cli("--database-url", run, "sync")
        assert code == 0 and "1 visit(s)" in out, err
        code, out, _ = cli("--database-url", run, "status")
        assert "(mode: triggers)" in out
        code, out, _ = cli("--database-url", run, "doctor")
        assert code == 0 and "[WARN] triggers: this account cannot verify every trigger" in out
        u = make_url(run)
        conn = pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password,
                               database=u.database, autocommit=True)
        try:
            with conn.cursor() as cur:
                for statement in (
                    "TRUNCATE TABLE aesthetic_inventory_stock_ledger",
                    "ALTER TABLE aesthetic_inventory_stock_ledger ADD COLUMN x int",
                    "DROP TRIGGER aesthetic_inventory_stock_ledger_bd",
                    "DROP TABLE aesthetic_inventory_ledger_seal",
                ):
                    with pytest.raises(pymysql.err.OperationalError) as refused:
                        cur.execute(statement)
                    assert refused.value.args[0] in (1142, 1044), statement
                with pytest.raises(pymysql.err.OperationalError, match="append-only"):
                    cur.execute("DELETE FROM aesthetic_inventory_stock_ledger")
        finally:
            conn.close()
        assert php(site, "SELECT COUNT(*) FROM aesthetic_inventory_stock_ledger") == [(1,)]
    finally:
        with mysql_server.cursor() as cur:
            cur.execute("DROP USER IF EXISTS 'airun'@'%'")


def test_lot_screen_writes_succeed_when_the_ledger_table_is_gone(site: str) -> None:
    """The observer is fail-safe: OpenEMR's own write never fails because of it."""
    drug = int(php(site, "SELECT drug_id FROM drug_inventory WHERE lot_number = "
                         "'BTX-24A117'")[0][0])
    php(site, "RENAME TABLE aesthetic_inventory_stock_ledger TO ledger_away")
    lots = openemr_movements(site, drug)
    assert php(site, "SELECT COUNT(*) FROM drug_sales WHERE inventory_id IN "
                     f"({lots['bought']}, {lots['moved']})") == [(5,)]
    php(site, "RENAME TABLE ledger_away TO aesthetic_inventory_stock_ledger")
