"""Fault: the ``sync`` worker is killed with SIGKILL in the middle of draining the
change queue, then started again.

Every visit is one transaction, so the kill leaves each visit either fully
reconciled or untouched; the next runs drain the rest. At the end every lot
balances, the queue is empty and every visit holds exactly what its billing
requires (nothing deducted twice).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.generate import (
    GeneratedClinic,
    Scale,
    add_stocked_products,
    add_visits,
    ledger_report,
)

pytestmark = pytest.mark.e2e

VISITS = 400
CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))


def _queued(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT COUNT(DISTINCT pid, encounter) FROM aesthetic_inventory_change_queue"
        )).scalar_one())


def _held_per_visit(engine: Engine) -> dict[tuple[int, int], int]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT pid, encounter, SUM(quantity) FROM drug_sales "
            "WHERE selector LIKE 'AUTO_PROC:%' GROUP BY pid, encounter"
        )).all()
    return {(int(p), int(e)): int(q) for p, e, q in rows}


def _sync(url: str) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    return subprocess.Popen([CLI, "--database-url", url, "sync"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sync_killed_mid_batch_then_restarted_deducts_everything_once(
    migrated_engine: Engine, migrated_db_url: str
) -> None:
    # Visits a month old: the sync's default 7-day sweep does not reach them, so only
    # the queue (filled by the billing triggers) brings them to the worker.
    clinic = GeneratedClinic(scale=Scale.named("tiny"), today=date.today() - timedelta(days=30),
                    next_encounter=1000)
    codes = add_stocked_products(migrated_engine, clinic, "KILL", products=4,
                                 lots_per_product=50, lot_size=10)  # 500 units each
    visits = add_visits(
        migrated_engine, clinic,
        [[(codes[k % 4], 1), (codes[(k + 1) % 4], 1)] for k in range(VISITS)], pid_base=1,
    )
    assert _queued(migrated_engine) == VISITS, "billing triggers must queue every visit"

    proc = _sync(migrated_db_url)
    deadline = time.monotonic() + 60
    while _queued(migrated_engine) > VISITS - 15 and time.monotonic() < deadline:
        assert proc.poll() is None, "sync finished before it could be killed"
        time.sleep(0.005)
    assert proc.poll() is None, "sync finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    left = _queued(migrated_engine)
    assert 0 < left < VISITS, left  # killed in the middle of the batch
    assert ledger_report(migrated_engine) == (0, 0, 0)
    held = _held_per_visit(migrated_engine)
    # All or nothing per visit: a reconciled visit holds its 2 units, the others none.
    assert set(held.values()) <= {2}, held
    assert len(held) + left >= VISITS, (len(held), left)

    for _ in range(VISITS // 100 + 2):  # each run drains up to one batch
        rerun = _sync(migrated_db_url)
        _, err = rerun.communicate(timeout=180)
        assert rerun.returncode == 0, err.decode(errors="replace")
        if _queued(migrated_engine) == 0:
            break
    assert _queued(migrated_engine) == 0
    assert ledger_report(migrated_engine) == (0, 0, 0)
    held = _held_per_visit(migrated_engine)
    wrong = {v: held.get(v) for v in visits if held.get(v) != 2}
    assert wrong == {} and len(held) == VISITS, wrong
    with migrated_engine.connect() as conn:
        on_hand = conn.execute(text(
            "SELECT SUM(on_hand) FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
            "WHERE d.name LIKE 'Bench KILL%'"
        )).scalar_one()
    assert on_hand == 4 * 500 - 2 * VISITS
