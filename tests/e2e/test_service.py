"""The real ``aesthetic-inventory service`` process on the real OpenEMR schema:
claims the due alert row, runs, releases, and exits 0 on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from aesthetic_inventory.db import create_db_engine
from sqlalchemy import text

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))
NAME = "AestheticInventoryAlerts"


def cli_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    env["AESTHETIC_INVENTORY_DATABASE_URL"] = url
    env.update({f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in extra.items()})
    return env


def wait_for(lines: list[str], needle: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(needle in line for line in lines):
            return True
        time.sleep(0.1)
    return False


def test_service_runs_due_job_and_stops_on_sigterm(openemr_db_url: str) -> None:
    migrate = subprocess.run(
        [CLI, "migrate"], env=cli_env(openemr_db_url), capture_output=True, text=True, timeout=120
    )
    assert migrate.returncode == 0, migrate.stderr
    engine = create_db_engine(openemr_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("DELETE FROM notification_log WHERE smsgateway_info = 'AestheticInventory'")
            )
            conn.execute(
                text(
                    "INSERT INTO drugs (name, reorder_point, active) "
                    "VALUES ('Botox Cosmetic 100U', 5, 1)"
                )
            )
            conn.execute(
                text(
                    "UPDATE background_services SET active = 1, running = 0, "
                    "execute_interval = 1440, "
                    "next_run = NOW() - INTERVAL 1 MINUTE WHERE name = :n"
                ),
                {"n": NAME},
            )
        process = subprocess.Popen(
            [CLI, "service"],
            env=cli_env(openemr_db_url, service_poll_seconds="1", service_outbox_seconds="1"),
            stderr=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")))
        reader.start()
        try:
            assert wait_for(lines, "alert job: claimed, ran and released", 30), "".join(lines)
            time.sleep(1.5)  # a few more ticks: the row is no longer due
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=15)
        finally:
            if process.poll() is None:
                process.kill()
            reader.join(timeout=5)
        log = "".join(lines)
        print(log)  # shown with -s; the final report quotes it
        assert code == 0, log
        assert "SIGTERM received, stopping" in log and "service: stopped" in log
        assert "Traceback" not in log
        with engine.connect() as conn:
            running, minutes = conn.execute(
                text(
                    "SELECT running, TIMESTAMPDIFF(MINUTE, NOW(), next_run) "
                    "FROM background_services WHERE name = :n"
                ),
                {"n": NAME},
            ).one()
            crm = conn.execute(
                text(
                    "SELECT COUNT(*) FROM notification_log "
                    "WHERE smsgateway_info = 'AestheticInventory'"
                )
            ).scalar()
            claims = conn.execute(
                text("SELECT COUNT(*) FROM aesthetic_inventory_service_claims")
            ).scalar()
        assert running == 0 and 1438 <= minutes <= 1440
        assert crm == 1  # ran once, not on every tick
        assert claims == 0
    finally:
        engine.dispose()


def test_service_refuses_bad_settings_at_start(openemr_db_url: str) -> None:
    result = subprocess.run(
        [CLI, "service"],
        env=cli_env(openemr_db_url, channels="crm,pager"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("Error: ")
    assert "unknown channel 'pager'" in result.stderr
