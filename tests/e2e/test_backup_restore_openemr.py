"""Issue 17 A on the FULL real OpenEMR schema: a backup taken as OpenEMR's backup page
takes it (``interface/main/backup.php``: ``--hex-blob --opt --quote-names
--no-tablespaces``, with ``--routines`` when de-identification is on, ``--skip-comments``
for its export) restores with the plain client; every table and trigger comes back,
doctor passes, and a line billed after the restore is deducted. Before the fix the
restore stopped at the first module trigger with ERROR 1064."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dbtools
import pytest
from aesthetic_inventory.install.triggers import all_triggers
from sqlalchemy.engine import make_url
from test_doctor_openemr import cli, php, real_schema_db

pytestmark = pytest.mark.e2e

BACKUP_PAGE = ["--hex-blob", "--opt", "--quote-names", "--no-tablespaces"]
VARIANTS = {
    "backup page": BACKUP_PAGE,
    "with de-identification": ["--routines", *BACKUP_PAGE],
    "export": ["--skip-comments", *BACKUP_PAGE],
}


def bill(url: str, pid: int, encounter: int, units: int) -> None:
    php(url,
        f"INSERT INTO form_encounter (date, pid, encounter) VALUES (NOW(), {pid}, {encounter})",
        "INSERT INTO billing (date, code_type, code, pid, encounter, units, activity, fee) "
        f"VALUES (NOW(), 'CPT4', '15828', {pid}, {encounter}, {units}, 1, 0)")


def on_hand(url: str) -> int:
    return int(php(url, "SELECT SUM(on_hand) FROM drug_inventory WHERE lot_number = "
                        "'BTX-24A117'")[0][0])


def catalog(url: str) -> tuple[list[str], list[str]]:
    tables = [r[0] for r in php(url, "SELECT TABLE_NAME FROM information_schema.TABLES "
                                     "WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1")]
    triggers = [r[0] for r in php(url, "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
                                       "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY 1")]
    return tables, triggers


def dump(server: dbtools.ServerInfo, database: str, options: list[str], path: Path) -> None:
    """The dump command of OpenEMR's backup page (password in the environment)."""
    tool = shutil.which("mariadb-dump") or shutil.which("mysqldump")
    assert tool is not None, "no mariadb-dump/mysqldump on PATH"
    u = make_url(server.url)
    args = [tool, "-u", u.username or "root", "-h", u.host or "127.0.0.1",
            f"--port={u.port or 3306}", *options, "-r", str(path), database]
    env = {"PATH": "/usr/bin:/bin", "MYSQL_PWD": u.password or ""}
    result = subprocess.run(args, env=env, capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")


def restore(server: dbtools.ServerInfo, database: str, path: Path) -> subprocess.CompletedProcess:
    """Restore with the plain client, as an admin would (no --force)."""
    args, env = server.client_command(database)
    with path.open("rb") as handle:
        return subprocess.run(args, stdin=handle, env=env, capture_output=True, check=False)


@pytest.fixture(scope="module")
def source(mysql_server: dbtools.ServerInfo) -> Iterator[str]:
    """A migrated real-schema clinic with the sample data and one consumed visit."""
    name = real_schema_db(mysql_server)
    url = mysql_server.database_url(name)
    try:
        assert cli("--database-url", url, "migrate")[0] == 0
        assert cli("--database-url", url, "load-sample")[0] == 0
        bill(url, 7, 42, 2)
        code, out, err = cli("--database-url", url, "consume", "--pid", "7", "--encounter", "42")
        assert code == 0 and "took 2 from lot BTX-24A117" in out, err
        yield name
    finally:
        mysql_server.drop_database(name)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_backup_restores_and_keeps_deducting(
    variant: str, source: str, mysql_server: dbtools.ServerInfo, tmp_path: Path
) -> None:
    path = tmp_path / "openemr.sql"
    dump(mysql_server, source, VARIANTS[variant], path)
    target = mysql_server.create_database("aibk")
    url = mysql_server.database_url(target)
    try:
        result = restore(mysql_server, target, path)
        assert result.returncode == 0, result.stderr.decode(errors="replace")[:500]
        tables, triggers = catalog(url)
        assert (tables, triggers) == catalog(mysql_server.database_url(source))
        assert len(tables) > 280 and set(triggers) == {s.name for s in all_triggers()}

        code, out, _ = cli("--database-url", url, "doctor")
        assert code == 0, out
        assert "[ok  ] backup: every trigger survives mysqldump and restores" in out

        before = on_hand(url)
        bill(url, 8, 43, 1)  # OpenEMR's fee sheet, after the restore: the trigger queues it
        assert php(url, "SELECT COUNT(*) FROM aesthetic_inventory_change_queue "
                        "WHERE encounter = 43") == [(1,)]
        code, out, err = cli("--database-url", url, "sync")
        assert code == 0, err
        assert on_hand(url) == before - 1
    finally:
        mysql_server.drop_database(target)


def test_migrate_upgrades_commented_triggers_that_break_a_dump(
    mysql_server: dbtools.ServerInfo, tmp_path: Path
) -> None:
    """A site migrated by an earlier version has a comment stamp in every body: doctor
    warns, that site's dump does not restore, migrate re-creates the triggers and the
    next dump restores."""
    name = real_schema_db(mysql_server)
    url = mysql_server.database_url(name)
    target = mysql_server.create_database("aibk")
    try:
        assert cli("--database-url", url, "migrate")[0] == 0
        spec = next(s for s in all_triggers() if s.name == "aesthetic_inventory_billing_ai")
        old = spec.create_sql().replace(" BEGIN ", " BEGIN /* aesthetic_inventory body "
                                        "0123456789ab */ ", 1)
        php(url, spec.drop_sql(), old)  # as the earlier version installed it

        code, out, _ = cli("--database-url", url, "doctor")
        assert "[WARN] backup: 1 trigger(s) would break a dump" in out
        assert "trigger aesthetic_inventory_billing_ai contains '/*' and '*/'" in out
        assert "is outdated" in out and code == 1
        path = tmp_path / "before.sql"
        dump(mysql_server, name, BACKUP_PAGE, path)
        result = restore(mysql_server, target, path)
        assert result.returncode != 0 and b"ERROR 1064" in result.stderr

        code, out, _ = cli("--database-url", url, "migrate")
        assert code == 0 and "re-created aesthetic_inventory_billing_ai" in out
        code, out, _ = cli("--database-url", url, "doctor")
        assert code == 0 and "[ok  ] backup:" in out, out
        mysql_server.drop_database(target)
        target = mysql_server.create_database("aibk")
        dump(mysql_server, name, BACKUP_PAGE, path)
        assert restore(mysql_server, target, path).returncode == 0
        assert catalog(mysql_server.database_url(target)) == catalog(url)
    finally:
        mysql_server.drop_database(target)
        mysql_server.drop_database(name)
