"""The suite against a configured server (``AESTHETIC_INVENTORY_TEST_DATABASE_URL``):
it tears down cleanly and leaves no database behind, and a missing real OpenEMR
schema names the variable that points at it. Each runs a small part of the suite
in a child pytest against this run's server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dbtools
from aesthetic_inventory.scratch import server_url
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]


def _databases(server: dbtools.ServerInfo) -> set[str]:
    conn = server._connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            return {row[0] for row in cur.fetchall()}
    finally:
        conn.close()


def _child_pytest(server: dbtools.ServerInfo, *args: str, **env: str) -> tuple[int, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    # the worst case: the configured URL names a database (the scratch code must
    # still reach the server without it to create and drop the test databases)
    environ["AESTHETIC_INVENTORY_TEST_DATABASE_URL"] = (
        make_url(server.url).set(database="mysql").render_as_string(hide_password=False)
    )
    environ.pop("CI", None)
    environ.update(env)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=600, check=False,
    )
    return done.returncode, done.stdout + done.stderr


def test_server_url_drops_the_database_name() -> None:
    url = server_url("mysql+pymysql://root:pw@db.example:3307/openemr?charset=utf8mb4")
    assert url.database is None
    assert (url.host, url.port, url.username, url.password) == ("db.example", 3307, "root", "pw")


def test_configured_server_tears_down_cleanly(mysql_server: dbtools.ServerInfo) -> None:
    before = _databases(mysql_server)
    code, output = _child_pytest(mysql_server, "tests/integration/test_harness.py")
    assert code == 0, output
    assert "3 passed" in output and "error" not in output.lower()
    assert _databases(mysql_server) <= before  # every test database was dropped


def test_missing_openemr_schema_names_the_variable(
    mysql_server: dbtools.ServerInfo, tmp_path: Path
) -> None:
    missing = tmp_path / "no" / "database.sql"
    code, output = _child_pytest(
        mysql_server,
        "tests/e2e/test_openemr_schema.py::test_status_json_on_real_schema",
        AESTHETIC_INVENTORY_OPENEMR_SCHEMA=str(missing),
        CI="true",
    )
    assert code == 1, output
    assert f"real OpenEMR schema not found at {missing}" in output
    assert "set AESTHETIC_INVENTORY_OPENEMR_SCHEMA" in output
