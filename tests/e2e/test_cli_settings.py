"""Settings validated at start, clear database errors, and global options after
the command, through the real CLI: every bad input is one line on stderr, exit 1,
nothing changed."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import dbtools
import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from click.testing import CliRunner
from dbtools import count_rows as count
from sqlalchemy import text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.e2e

CLI = Path(sys.executable).with_name("aesthetic-inventory")


def run(*args: str, **env: str) -> tuple[int, str, str]:
    environ: dict[str, str | None] = {
        "AESTHETIC_INVENTORY_DATABASE_URL": None,
        "AESTHETIC_INVENTORY_CONFIG": None,
    }
    environ.update({f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in env.items()})
    result = CliRunner().invoke(main, list(args), env=environ)
    return result.exit_code, result.stdout, result.stderr


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "unexpected error" not in err
    return lines[0]


def seed_low_stock(url: str) -> None:
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO drugs (name, reorder_point, active) VALUES ('B', 5, 1)"))
    finally:
        engine.dispose()


# -- D.3 settings validated at start ---------------------------------------------


@pytest.mark.parametrize(
    "command", [["alerts", "run"], ["alerts", "run", "--dry-run"], ["service"]]
)
def test_email_channel_without_smtp_host(migrated_db_url: str, command: list[str]) -> None:
    seed_low_stock(migrated_db_url)
    code, _out, err = run("--database-url", migrated_db_url, *command, channels="crm,email")
    assert code == 1
    line = one_line(err)
    assert "channel email needs an SMTP host" in line and "SMTP_HOST" in line
    assert count(migrated_db_url, "SELECT COUNT(*) FROM aesthetic_inventory_alert_state") == 0
    assert count(migrated_db_url, "SELECT COUNT(*) FROM aesthetic_inventory_outbox") == 0


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"outbox_backoff_seconds": "9" * 30}, "OUTBOX_BACKOFF_SECONDS is out of range"),
        ({"outbox_max_backoff_seconds": "99999999999"}, "must be at most 2592000"),
        ({"reminder_hours": "1e9"}, "REMINDER_HOURS must be a whole number"),
        ({"smtp_port": "0"}, "SMTP_PORT must be a TCP port (1-65535)"),
        ({"smtp_ca_file": "/nonexistent/ca.pem"}, "SMTP_CA_FILE: file not found"),
        ({"smtp_allow_unencrypted_auth": "maybe"}, "must be true or false"),
        ({"webhook_url": "http://hooks.example:70000/x"}, "WEBHOOK_URL has a bad port"),
    ],
)
def test_bad_setting_fails_every_command(
    migrated_db_url: str, env: dict[str, str], needle: str
) -> None:
    code, out, err = run("--database-url", migrated_db_url, "status", **env)
    assert code == 1 and out == ""
    assert needle in one_line(err)


@pytest.mark.parametrize(
    ("url_suffix", "needle"),
    [
        (":99999/db", "has a bad port 99999: it must be 1-65535"),
        (":port/db", "has a bad port: it must be a number 1-65535"),
        ("/db?charst=utf8mb4", "unknown query option 'charst' (did you mean charset?)"),
        ("/db?ssl_ca=/nonexistent/ca.pem", "option ssl_ca: file not found: /nonexistent/ca.pem"),
        ("/db?connect_timeout=soon", "option connect_timeout must be a whole number"),
    ],
)
def test_malformed_database_url_parts(url_suffix: str, needle: str) -> None:
    url = f"mysql+pymysql://openemr:Secret-PW@127.0.0.1{url_suffix}"
    code, _out, err = run("status", database_url=url)
    line = one_line(err)
    assert code == 1 and needle in line and "Secret-PW" not in line
    assert "AESTHETIC_INVENTORY_DATABASE_URL" in line


def test_unknown_key_in_toml_names_key_and_file(tmp_path: Path, migrated_db_url: str) -> None:
    config = tmp_path / "aesthetic.toml"
    config.write_text(
        f'[aesthetic_inventory]\ndatabase_url = "{migrated_db_url}"\nsmtp_hots = "x"\n'
    )
    code, out, err = run("--config", str(config), "status")
    assert code == 1 and out == ""
    line = one_line(err)
    assert f"unknown setting 'smtp_hots' in config file {config}" in line
    assert "did you mean 'smtp_host'" in line


def test_number_overflow_in_toml_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "aesthetic.toml"
    config.write_text("expiry_horizon_days = 100000000000000000000000\n")
    code, _out, err = run("--config", str(config), "status")
    assert code == 1
    assert f"setting expiry_horizon_days in config file {config} is out of range" in one_line(err)


# -- D.4 database errors a user can act on ---------------------------------------


@pytest.fixture
def account(mysql_server: dbtools.ServerInfo) -> Iterator[tuple[str, str]]:
    """A server account (user, password) created for the test and dropped after."""
    user, password = f"ai_{uuid.uuid4().hex[:8]}", "Acc-Pass-9"
    conn = mysql_server._connect()
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
            cur.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{password}'")
        yield user, password
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
            cur.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
        conn.close()


def _as(url: str, user: str, password: str) -> str:
    return make_url(url).set(username=user, password=password).render_as_string(False)


def _grant(server: dbtools.ServerInfo, user: str, privileges: str, database: str) -> None:
    conn = server._connect()
    try:
        with conn.cursor() as cur:
            for host in ("%", "127.0.0.1"):
                cur.execute(f"GRANT {privileges} ON `{database}`.* TO '{user}'@'{host}'")
    finally:
        conn.close()


def test_account_without_access_to_the_database(fixture_db_url: str, account) -> None:
    user, password = account
    code, _out, err = run("status", database_url=_as(fixture_db_url, user, password))
    line = one_line(err)
    assert code == 1 and "access denied to the database at" in line
    assert "GRANT" in line and password not in line


def test_missing_database(fixture_db_url: str) -> None:
    url = make_url(fixture_db_url).set(database="no_such_openemr").render_as_string(False)
    code, _out, err = run("status", database_url=url)
    assert code == 1 and "database does not exist at" in one_line(err)


def test_missing_create_privilege_on_migrate(
    mysql_server: dbtools.ServerInfo, fixture_db_url: str, account
) -> None:
    user, password = account
    database = make_url(fixture_db_url).database
    assert database is not None
    _grant(mysql_server, user, "SELECT, INSERT, UPDATE, DELETE", database)
    code, _out, err = run("migrate", database_url=_as(fixture_db_url, user, password))
    line = one_line(err)
    assert code == 1 and "the database account lacks the CREATE privilege" in line
    # the first table migrate creates: the lock table its lease lives in
    assert "aesthetic_inventory_locks" in line
    assert count(
        fixture_db_url,
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME LIKE 'aesthetic\\_inventory\\_%'",
    ) == 0


def test_broken_pipe_is_one_line(migrated_db_url: str) -> None:
    """``status | head -1`` where the reader is already gone: a pipe with no
    reader, so the first write fails with EPIPE every time."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    try:
        done = subprocess.run(
            [str(CLI), "status", "--database-url", migrated_db_url],
            stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=120, check=False,
        )
    finally:
        os.close(write_end)
    err = done.stderr.decode()
    assert done.returncode == 1
    assert "broken pipe" in one_line(err)


# -- D.5 global options after the command -----------------------------------------


def test_global_options_after_the_command(migrated_db_url: str, tmp_path: Path) -> None:
    code, out, _err = run("status", "--database-url", migrated_db_url)
    assert code == 0 and out.startswith("database: mysql+pymysql://")
    config = tmp_path / "c.toml"
    config.write_text(f'database_url = "{migrated_db_url}"\n')
    code, out, _err = run("status", "--config", str(config), "--json")
    assert code == 0 and '"module_version"' in out
    code, out, _err = run("status", f"--config={config}")
    assert code == 0 and out.startswith("database: ")


def test_verbose_after_the_command_shows_the_traceback() -> None:
    url = "mysql+pymysql://root@127.0.0.1:1/db"  # nothing listens on port 1
    code, _out, err = run("status", "-v", database_url=url)
    assert code == 1 and "Traceback" in err and "cannot reach the database server" in err
    code, _out, err = run("alerts", "run", "--verbose", database_url=url)
    assert code == 1 and "Traceback" in err
    code, _out, err = run("status", database_url=url)
    assert code == 1 and "Traceback" not in err
