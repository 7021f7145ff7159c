"""Cluster-safe coordination on one real server (issue 20): the scan lock is a row
lock in the scan's own transaction, alert state changes are compare-and-set (a
stale scan writes nothing), the outbox claim is committed with an owner and a
lease, and the migration lock is a lease row, never GET_LOCK."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import dbtools
import pytest
from aesthetic_inventory.alerts.outbox import CLAIM_LEASE_SECONDS
from aesthetic_inventory.alerts.repositories import AlertStateRepository, OutboxRepository
from aesthetic_inventory.alerts.rules import AlertItem
from aesthetic_inventory.alerts.service import run_alert_scan
from aesthetic_inventory.db import StaleReadError, connect
from aesthetic_inventory.install.repository import InstallRepository
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy import text

NOW = datetime(2026, 3, 2, 9, 0, 0)
DUE = NOW - timedelta(hours=24)


def _item(key: str) -> AlertItem:
    return AlertItem(kind="low_stock", item_key=key, drug_id=int(key), product=f"P{key}")


def _state_rows(clinic: Clinic) -> list[tuple]:
    return [tuple(r) for r in clinic.rows(
        "SELECT item_key, state, last_notified, notify_count "
        "FROM aesthetic_inventory_alert_state ORDER BY item_key")]


def test_a_scan_that_read_stale_state_writes_nothing(migrated_engine, clinic: Clinic) -> None:
    with UnitOfWork(migrated_engine) as uow:  # another scan notified item 7 just now
        uow.get(AlertStateRepository).notify_states([_item("7")], [], NOW, DUE)
        uow.commit()
    before = _state_rows(clinic)
    # a scan that read before that commit still sees item 7 as new
    with UnitOfWork(migrated_engine) as uow, pytest.raises(StaleReadError):
        uow.get(AlertStateRepository).notify_states([_item("8"), _item("7")], [], NOW, DUE)
    # ... or as due for a reminder
    with UnitOfWork(migrated_engine) as uow, pytest.raises(StaleReadError):
        uow.get(AlertStateRepository).notify_states([_item("8")], [_item("7")], NOW, DUE)
    # ... or resolves what another scan resolved already
    with UnitOfWork(migrated_engine) as uow:
        repo = uow.get(AlertStateRepository)
        assert repo.resolve_states([("low_stock", "7")], NOW) == 1
        uow.commit()
    with UnitOfWork(migrated_engine) as uow, pytest.raises(StaleReadError):
        uow.get(AlertStateRepository).resolve_states([("low_stock", "7")], NOW)
    assert [r[0] for r in _state_rows(clinic)] == [r[0] for r in before] == ["7"]
    # a reminder that is really due goes through
    later = NOW + timedelta(days=2)
    with UnitOfWork(migrated_engine) as uow:
        uow.get(AlertStateRepository).notify_states([], [_item("7")], later,
                                                    later - timedelta(hours=24))
        uow.commit()
    assert _state_rows(clinic) == [("7", "open", later, 1)]


def test_two_scans_at_once_notify_each_item_once(migrated_db_url, clinic: Clinic) -> None:
    for n in range(6):
        drug = clinic.add_drug(f"Low {n}", reorder_point=5)
        clinic.add_lot(drug, 1, lot_number=f"L{n}")
    apps = [dbtools.make_app(migrated_db_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    results: list[object] = []

    def scan(app) -> None:  # type: ignore[no-untyped-def]
        barrier.wait(timeout=10)
        results.append(run_alert_scan(app, now=NOW, deliver=False))

    threads = [threading.Thread(target=scan, args=(app,)) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(len(r.notified) for r in results) == [0, 6]  # type: ignore[attr-defined]
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_outbox") == 1
    assert clinic.scalar("SELECT MAX(notify_count) FROM aesthetic_inventory_alert_state") == 1
    # the lock is a row in the module's locks table, stamped by the scan that wrote
    assert clinic.scalar(
        "SELECT acquired_at FROM aesthetic_inventory_locks WHERE name = 'alert_scan'") == NOW
    for app in apps:
        app.close()


def _add_outbox_row(clinic: Clinic) -> int:
    with clinic.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO aesthetic_inventory_outbox (channel, idempotency_key, subject, "
            "body_text, body_html, payload_json, status, attempts, next_attempt_at, created_at) "
            "VALUES ('webhook', 'ai-test-webhook', 's', 't', 'h', '{}', 'pending', 0, :n, :n)"),
            {"n": NOW})
        return int(conn.execute(text("SELECT LAST_INSERT_ID()")).scalar_one())


def _claim(engine, owner: str, at: datetime):  # type: ignore[no-untyped-def]
    with UnitOfWork(engine) as uow:
        row = uow.get(OutboxRepository).claim_due(
            at, ["webhook"], owner, at + timedelta(seconds=CLAIM_LEASE_SECONDS))
        uow.commit()
        return row


def test_outbox_claim_is_committed_with_owner_and_lease(migrated_engine, clinic: Clinic) -> None:
    row_id = _add_outbox_row(clinic)
    first = _claim(migrated_engine, "node1:1", NOW)
    assert first is not None and first.id == row_id
    assert clinic.rows("SELECT claimed_by, claim_expires_at FROM aesthetic_inventory_outbox") == [
        ("node1:1", NOW + timedelta(seconds=CLAIM_LEASE_SECONDS))]
    # committed: another sender (another node) does not get it while the lease runs
    assert _claim(migrated_engine, "node2:1", NOW + timedelta(seconds=10)) is None
    # the first sender died: after its lease another takes the row over ...
    late = NOW + timedelta(seconds=CLAIM_LEASE_SECONDS + 1)
    taken = _claim(migrated_engine, "node2:1", late)
    assert taken is not None and taken.idempotency_key == "ai-test-webhook"
    # ... and the late confirmation of the first changes nothing
    with UnitOfWork(migrated_engine) as uow:
        assert uow.get(OutboxRepository).mark_delivered(row_id, late, "node1:1") is False
        assert uow.get(OutboxRepository).mark_delivered(row_id, late, "node2:1") is True
        uow.commit()
    assert clinic.rows("SELECT status, claimed_by, attempts FROM aesthetic_inventory_outbox") == [
        ("delivered", None, 1)]


def test_migration_lock_is_a_lease_row(migrated_engine, clinic: Clinic) -> None:
    with clinic.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO aesthetic_inventory_locks (name, holder, acquired_at, expires_at) "
            "VALUES ('migrate', 'other-node:42', NOW(), NOW() + INTERVAL 5 MINUTE) "
            # the template's own migrate left its released lease row behind
            "ON DUPLICATE KEY UPDATE holder = VALUES(holder), "
            "acquired_at = VALUES(acquired_at), expires_at = VALUES(expires_at)"))
    conn = connect(migrated_engine).execution_options(isolation_level="AUTOCOMMIT")
    try:
        repo = InstallRepository(conn)
        assert repo.acquire_migration_lock(0) is False  # held by a live lease elsewhere
        with clinic.engine.begin() as other:
            other.execute(text("UPDATE aesthetic_inventory_locks SET expires_at = NOW() - "
                               "INTERVAL 1 SECOND WHERE name = 'migrate'"))
        assert repo.acquire_migration_lock(0) is True  # an expired lease is taken over
        holder = clinic.scalar(
            "SELECT holder FROM aesthetic_inventory_locks WHERE name = 'migrate'")
        assert holder != "other-node:42"
        repo.release_migration_lock()
        assert clinic.rows("SELECT holder, expires_at FROM aesthetic_inventory_locks "
                           "WHERE name = 'migrate'") == [("", None)]
    finally:
        conn.close()
