"""OpenEMR multisite: one ``service`` process serves several site databases, each
with its own jobs, claims and outbox; one failing site never stalls another;
``status``, ``doctor`` and ``sync`` take ``--site`` / ``--all-sites``; sites come
from ``--site NAME=URL``, a ``[sites]`` table or an OpenEMR install's
``sites/*/sqlconf.php``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO

import dbtools
import pytest
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.private_server import free_port
from aesthetic_inventory.sites import discover_sites
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bench.database import create_fixture_database, drop_database, migrate_database
from bench.generate import GeneratedClinic, Scale, add_stocked_products, add_visits

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))
ALERTS = "AestheticInventoryAlerts"


@pytest.fixture(scope="module")
def sites(mysql_server: dbtools.ServerInfo) -> Iterator[dict[str, str]]:
    """Two migrated site databases with stock, and a database that is not OpenEMR."""
    urls = {name: create_fixture_database(mysql_server.url, f"aims_{name}") for name in "ab"}
    for n, url in enumerate(urls.values()):
        engine = create_db_engine(url)
        try:
            migrate_database(engine)
            clinic = GeneratedClinic(scale=Scale.named("tiny"), today=date.today(),
                                     next_encounter=100)
            add_stocked_products(engine, clinic, f"MS{n}", products=1, lots_per_product=2,
                                 lot_size=10)
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO drugs (name, reorder_point, active, dispensable) "
                                  "VALUES (:n, 5, 1, 1)"), {"n": f"Low at site {n}"})
                conn.execute(text(
                    "UPDATE background_services SET active = 1, running = 0, "
                    "execute_interval = 1440, next_run = NOW() - INTERVAL 1 MINUTE "
                    "WHERE name = :n"), {"n": ALERTS})
        finally:
            engine.dispose()
    empty = mysql_server.create_database("aims_empty")
    urls["empty"] = mysql_server.database_url(empty)
    try:
        yield urls
    finally:
        for name in "ab":
            drop_database(urls[name])
        mysql_server.drop_database(empty)


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    return env | {f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in settings.items()}


def _held(engine: Engine, pid: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT COALESCE(SUM(quantity), 0) FROM drug_sales WHERE pid = :p "
            "AND selector LIKE 'AUTO_PROC:%'"), {"p": pid}).scalar_one())


def _crm_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT COUNT(*) FROM notification_log WHERE smsgateway_info = 'AestheticInventory'"
        )).scalar_one())


def test_one_service_serves_several_sites_and_a_dead_one_stalls_none(
    sites: dict[str, str],
) -> None:
    engines = {name: create_db_engine(sites[name]) for name in "ab"}
    down = f"mysql+pymysql://root@127.0.0.1:{free_port()}/gone"
    args = [CLI, "service", "--site", f"a={sites['a']}", "--site", f"down={down}",
            "--site", f"b={sites['b']}", "--site", f"empty={sites['empty']}"]
    env = _env(service_drain_seconds="0.3", service_poll_seconds="1",
               service_outbox_seconds="1")
    try:
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                clinics = {n: GeneratedClinic(scale=Scale.named("tiny"), today=date.today(),
                                              next_encounter=500) for n in "ab"}
                add_visits(engines["a"], clinics["a"], [[("MS00", 3)]], pid_base=1)
                add_visits(engines["b"], clinics["b"], [[("MS10", 4)]], pid_base=1)
                deadline = time.monotonic() + 60
                released = "alert job: claimed, ran and released (1 notified, 1 delivered"
                # the CRM row commits before the job logs its release: wait for both
                while (_held(engines["a"], 1), _held(engines["b"], 1), _crm_rows(engines["a"]),
                       _crm_rows(engines["b"])) != (3, 4, 1, 1) or _log(log).count(
                           released) < 2:
                    assert proc.poll() is None, "the service exited"
                    assert time.monotonic() < deadline, "a site was not served"
                    time.sleep(0.2)
            finally:
                proc.send_signal(signal.SIGTERM)
                code = proc.wait(timeout=60)
            log.seek(0)
            output = log.read().decode(errors="replace")
    finally:
        for engine in engines.values():
            engine.dispose()
    assert code == 0, output
    assert "site empty: left out: this is not an OpenEMR database" in output, output
    assert "sites a, down, b" in output, output
    # the dead site: one line at start, one when its jobs found it away, no more
    assert output.count("database of site down unavailable") == 1, output
    assert "job " not in output or " failed:" not in output, output
    assert "Traceback" not in output, output
    # each site's own alert job claimed, scanned, delivered to its own CRM and released
    assert output.count("alert job: claimed, ran and released (1 notified, 1 delivered") == 2


def _log(log: IO[bytes]) -> str:
    """What the service wrote so far. pread: the child writes through the same file
    offset, which a seek here would move under it."""
    fd = log.fileno()
    return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")


def _openemr_install(root: Path, sites: dict[str, str]) -> Path:
    """A minimal OpenEMR install: sites/<name>/sqlconf.php as OpenEMR's installer
    writes it."""
    for name, url in sites.items():
        parsed = make_url(url)
        directory = root / "sites" / name
        directory.mkdir(parents=True)
        (directory / "sqlconf.php").write_text(
            "<?php\n//  OpenEMR\n//  MySQL Config\n\nglobal $disable_utf8_flag;\n"
            "$disable_utf8_flag = false;\n\n"
            f"$host\t= '{parsed.host}';\n$port\t= '{parsed.port}';\n"
            f"$login\t= '{parsed.username}';\n$pass\t= '{parsed.password or ''}';\n"
            f"$dbase\t= '{parsed.database}';\n$db_encoding\t= 'utf8mb4';\n\n"
            "$sqlconf = array();\nglobal $sqlconf;\n$sqlconf[\"host\"]= $host;\n"
            "//////DO NOT TOUCH THIS///\n$config = 1; /////////////\n"
        )
    (root / "sites" / "notyet").mkdir()
    (root / "sites" / "notyet" / "sqlconf.php").write_text("<?php\n$host = 'x';\n$config = 0;\n")
    return root


def test_status_doctor_and_sync_take_sites(sites: dict[str, str], tmp_path: Path) -> None:
    install = _openemr_install(tmp_path / "openemr", {"a": sites["a"], "b": sites["b"]})
    assert [s.name for s in discover_sites(install)] == ["a", "b"]  # notyet: not set up
    run = subprocess.run([CLI, "status", "--all-sites", "--openemr-dir", str(install)],
                         env=_env(), capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("== site ") == 2 and "== site a (" in run.stderr
    assert run.stdout.count("module version:") == 2
    config = tmp_path / "settings.toml"
    config.write_text(f'channels = "crm"\n\n[sites]\nb = "{sites["b"]}"\n'
                      f'empty = "{sites["empty"]}"\n')
    run = subprocess.run([CLI, "--config", str(config), "doctor", "--all-sites"],
                         env=_env(), capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 1  # the empty database is not OpenEMR ...
    assert "site empty: error: this is not an OpenEMR database" in run.stderr, run.stderr
    assert "health: ok" in run.stdout  # ... and site b was still checked
    assert "failed on site(s) empty" in run.stderr
    run = subprocess.run([CLI, "--config", str(config), "sync", "--site", "b", "--json"],
                         env=_env(), capture_output=True, text=True, check=False, timeout=120)
    assert run.returncode == 0, run.stderr
    assert '"queue"' in run.stdout and run.stderr.startswith("== site b (")
    run = subprocess.run([CLI, "--config", str(config), "sync", "--site", "c"],
                         env=_env(), capture_output=True, text=True, check=False)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1].endswith(
        "--site c: no such site (known: b, empty)")
