"""Issue 8 "Done when", on the FULL real OpenEMR schema: doctor on a healthy install
exits 0; after DROP TABLE aesthetic_inventory_change_queue a billing insert still
succeeds, doctor exits 1 naming the table, and migrate repairs it. Also a real-schema
site created with utf8mb4_unicode_ci consumes and scans."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dbtools
import pymysql
import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"AESTHETIC_INVENTORY_DATABASE_URL": None})
    return result.exit_code, result.stdout, result.stderr


def php(url: str, *statements: str) -> list[tuple]:
    """Statements as OpenEMR's PHP sends them (plain client, empty sql_mode)."""
    u = make_url(url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password or "",
                           database=u.database, autocommit=True)
    try:
        rows: list[tuple] = []
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")
            for statement in statements:
                cur.execute(statement)
                rows = list(cur.fetchall())
        return rows
    finally:
        conn.close()


def real_schema_db(server: dbtools.ServerInfo, collation: str | None = None) -> str:
    if not dbtools.OPENEMR_SCHEMA.is_file():
        pytest.fail(f"real OpenEMR schema not found at {dbtools.OPENEMR_SCHEMA} "
                    "(set AESTHETIC_INVENTORY_OPENEMR_SCHEMA)")
    name = server.create_database("aidoc", collation=collation)
    server.load_openemr_schema(name)
    return name


@pytest.fixture
def own_openemr_url(mysql_server: dbtools.ServerInfo) -> Iterator[str]:
    """A real-schema database of this test alone (the test damages it)."""
    name = real_schema_db(mysql_server)
    try:
        yield mysql_server.database_url(name)
    finally:
        mysql_server.drop_database(name)


def test_doctor_drop_queue_billing_insert_migrate_repairs(own_openemr_url: str) -> None:
    url = own_openemr_url
    assert cli("--database-url", url, "migrate")[0] == 0
    code, out, _ = cli("--database-url", url, "doctor")
    assert code == 0, out
    assert out.splitlines()[-1] == "health: ok (13 checks passed)"

    php(url, "DROP TABLE aesthetic_inventory_change_queue")
    php(url, "INSERT INTO billing (date, code_type, code, pid, encounter, units, activity, fee) "
             "VALUES (NOW(), 'CPT4', '15828', 1, 1, 1, 1, 0)")  # OpenEMR's save still succeeds
    assert php(url, "SELECT COUNT(*) FROM billing") == [(1,)]

    code, out, _ = cli("--database-url", url, "doctor")
    assert code == 1
    assert "table aesthetic_inventory_change_queue is missing" in out
    assert "fix: run 'aesthetic-inventory migrate' (it re-creates what is missing)" in out
    code, out, _ = cli("--database-url", url, "doctor", "--json")
    data = json.loads(out)
    assert code == 1 and not data["healthy"]
    assert "module tables" in data["summary"] and "triggers" in data["summary"]

    code, out, _ = cli("--database-url", url, "migrate")
    assert code == 0
    assert "table aesthetic_inventory_change_queue is missing" in out and "(done)" in out
    code, out, _ = cli("--database-url", url, "doctor")
    assert code == 0, out
    php(url, "UPDATE billing SET units = 2")
    assert php(url, "SELECT COUNT(*) FROM aesthetic_inventory_change_queue") == [(1,)]


def test_unicode_ci_real_schema_site_consumes_and_scans(
    mysql_server: dbtools.ServerInfo,
) -> None:
    name = real_schema_db(mysql_server, "utf8mb4_unicode_ci")
    url = mysql_server.database_url(name)
    try:
        assert cli("--database-url", url, "migrate")[0] == 0
        assert cli("--database-url", url, "load-sample")[0] == 0
        php(
            url,
            "INSERT INTO form_encounter (date, pid, encounter) VALUES (NOW(), 7, 42)",
            "INSERT INTO billing (date, code_type, code, pid, encounter, units, activity, fee) "
            "VALUES (NOW(), 'CPT4', '15828', 7, 42, 2, 1, 0)",
        )
        code, out, err = cli("--database-url", url, "consume", "--pid", "7", "--encounter", "42")
        assert code == 0, err
        assert "took 2 from lot BTX-24A117" in out
        code, out, err = cli("--database-url", url, "alerts", "run")
        assert code == 0, err
        assert cli("--database-url", url, "doctor")[0] == 0
    finally:
        mysql_server.drop_database(name)
