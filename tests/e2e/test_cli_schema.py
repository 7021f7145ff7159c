"""The schema commands through the CLI: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import socket
import uuid

import dbtools
import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"AESTHETIC_INVENTORY_DATABASE_URL": None})
    return result.exit_code, result.stdout, result.stderr


def _one_line_error(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_migrate_status_load_sample(fixture_db_url: str) -> None:
    code, out, _ = run("--database-url", fixture_db_url, "migrate", "--dry-run")
    assert code == 0 and "would run: alter table drugs (add photo_url)" in out
    assert "nothing was written" in out
    code, out, _ = run("--database-url", fixture_db_url, "status", "--json")
    assert code == 0
    data = json.loads(out)
    assert "518_00_core.sql" in data["pending"] and data["module_version"] is None

    code, out, _ = run("--database-url", fixture_db_url, "migrate")
    assert code == 0
    assert "line 36: created table procedure_products" in out
    assert "inserted 1 row(s) into background_services" in out
    code, out, _ = run("--database-url", fixture_db_url, "migrate")
    assert code == 0 and "Nothing to do" in out

    code, out, _ = run("--database-url", fixture_db_url, "status", "--json")
    data = json.loads(out)
    assert data["pending"] == [] and "518_00_core.sql" in data["applied"]
    assert data["module_version"] == "518" and data["openemr_version"] == "7.0.4"
    assert data["service"]["name"] == "AestheticInventoryAlerts"
    code, out, _ = run("--database-url", fixture_db_url, "status")
    assert code == 0 and "module version: 518" in out and "applied  518_00_core.sql" in out

    code, out, _ = run("--database-url", fixture_db_url, "load-sample")
    assert code == 0 and "Sample data loaded." in out


def test_load_sample_before_migrate_is_one_line(fixture_db_url: str) -> None:
    code, out, err = run("--database-url", fixture_db_url, "load-sample")
    assert code == 1
    assert "run 'aesthetic-inventory migrate' first" in _one_line_error(err)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server() -> None:
    url = f"mysql+pymysql://openemr:s3cretPW@127.0.0.1:{_free_port()}/openemr"
    code, _, err = run("--database-url", url, "migrate")
    assert code == 1
    line = _one_line_error(err)
    assert "cannot reach the database server" in line and "s3cretPW" not in err


def test_wrong_password_is_not_printed(
    mysql_server: dbtools.ServerInfo, fixture_db_url: str
) -> None:
    user = "ai_" + uuid.uuid4().hex[:8]
    with mysql_server.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'RightPass1'")
    try:
        url = make_url(fixture_db_url).set(username=user, password="WrongPass9")
        code, out, err = run("--database-url", url.render_as_string(hide_password=False), "status")
        assert code == 1
        line = _one_line_error(err)
        assert "access denied" in line and "***" in line
        assert "WrongPass9" not in err + out
    finally:
        with mysql_server.cursor() as cur:
            cur.execute(f"DROP USER '{user}'@'%'")


def test_non_openemr_database_refused_and_untouched(mysql_server: dbtools.ServerInfo) -> None:
    name = mysql_server.create_database("notoe")
    try:
        code, _, err = run("--database-url", mysql_server.database_url(name), "migrate")
        assert code == 1
        assert "not an OpenEMR database" in _one_line_error(err)
        engine = create_db_engine(mysql_server.database_url(name))
        try:
            with engine.connect() as conn:
                count = conn.execute(
                    text(
                        "SELECT COUNT(*) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = DATABASE()"
                    )
                ).scalar_one()
        finally:
            engine.dispose()
        assert count == 0
    finally:
        mysql_server.drop_database(name)


@pytest.mark.parametrize("url", ["not a url", "postgresql://u:pw@h/db"])
def test_malformed_url(url: str) -> None:
    code, _, err = run("--database-url", url, "status")
    assert code == 1
    assert "database URL" in _one_line_error(err)
