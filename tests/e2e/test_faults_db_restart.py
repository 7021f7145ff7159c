"""Fault: the database server is restarted under a running ``service``.

The service must log the failures, keep running, and pick up work again once the
server is back: a fee sheet saved after the restart is still reconciled by the
change-queue job, and SIGTERM still stops the service cleanly.
"""

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

import pytest
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.private_server import PrivateServer
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.database import create_fixture_database, migrate_database
from bench.generate import GeneratedClinic, Scale, add_stocked_products, add_visits

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))


@pytest.fixture
def own_server() -> Iterator[PrivateServer]:
    """A private server of this test's own: restarting it disturbs no other test."""
    server = PrivateServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _held(engine: Engine, pid: int) -> int:
    deadline = time.monotonic() + 10
    while True:
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(
                    "SELECT COALESCE(SUM(quantity), 0) FROM drug_sales WHERE pid = :p "
                    "AND selector LIKE 'AUTO_PROC:%'"), {"p": pid}).scalar_one())
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _wait_held(engine: Engine, pid: int, units: int, proc: subprocess.Popen[bytes],
               timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _held(engine, pid) != units:
        assert proc.poll() is None, "the service exited"
        assert time.monotonic() < deadline, f"visit of pid {pid} was not reconciled"
        time.sleep(0.1)


def test_service_survives_a_database_restart(own_server: PrivateServer) -> None:
    url = create_fixture_database(own_server.url)
    engine = create_db_engine(url)
    migrate_database(engine)
    clinic = GeneratedClinic(scale=Scale.named("tiny"), today=date.today(), next_encounter=10)
    codes = add_stocked_products(engine, clinic, "RST", products=1, lots_per_product=5,
                                 lot_size=10)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    env |= {
        "AESTHETIC_INVENTORY_SERVICE_DRAIN_SECONDS": "1",
        "AESTHETIC_INVENTORY_SERVICE_POLL_SECONDS": "1",
        "AESTHETIC_INVENTORY_SERVICE_OUTBOX_SECONDS": "1",
    }
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([CLI, "--database-url", url, "service"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            add_visits(engine, clinic, [[(codes[0], 2)]], pid_base=1)
            _wait_held(engine, 1, 2, proc)  # the service works before the restart

            engine.dispose()
            own_server.restart(down_seconds=4)  # jobs fail while it is down
            assert proc.poll() is None, "the service exited while the database was down"

            add_visits(engine, clinic, [[(codes[0], 3)]], pid_base=2)
            _wait_held(engine, 2, 3, proc)  # ... and resumes after it
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            engine.dispose()
        log.seek(0)
        output = log.read().decode(errors="replace")
    assert code == 0, output
    # It logged the outage in two lines (gone, back; issue 17 G), with no traceback
    # and no line per failed job run ...
    assert output.count("database unavailable") == 1, output
    assert output.count("database is back after") == 1, output
    assert "failed: DatabaseUnavailableError" not in output, output
    assert "Traceback" not in output, output
    # ... and kept its jobs running: the drain after the restart reconciled visit 2.
    assert "service: stopped" in output, output
