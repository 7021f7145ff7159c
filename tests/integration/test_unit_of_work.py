"""The unit of work on a real server: rolls back unless committed, and a committed
unit costs no extra round trip on the way out."""

from __future__ import annotations

import pytest
from aesthetic_inventory.alerts.background import BackgroundServiceRepository
from aesthetic_inventory.alerts.repositories import (
    AlertStateRepository,
    OutboxRepository,
    TargetsRepository,
)
from aesthetic_inventory.consumption.repositories import (
    ConsumptionRepository,
    FeeSheetRepository,
    QueueRepository,
    SweepRepository,
)
from aesthetic_inventory.stock.repository import StockRepository
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.repository import UsageRepository
from sqlalchemy import text
from sqlalchemy.engine import Engine


def _drugs(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(text("SELECT name FROM drugs ORDER BY name"))]


def _insert(uow: UnitOfWork, name: str) -> None:
    uow.connection.execute(text("INSERT INTO drugs (name) VALUES (:n)"), {"n": name})


def test_leaving_without_commit_rolls_back(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        _insert(uow, "not kept")
    assert _drugs(engine) == []


def test_an_error_midway_rolls_back_everything(engine: Engine) -> None:
    with pytest.raises(RuntimeError), UnitOfWork(engine) as uow:
        _insert(uow, "first")
        raise RuntimeError("boom")
    assert _drugs(engine) == []


def test_commit_keeps_and_later_work_is_a_new_transaction(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        _insert(uow, "kept")
        uow.commit()
        _insert(uow, "after commit, not committed")
    assert _drugs(engine) == ["kept"]


def test_rollback_then_commit(engine: Engine) -> None:
    with UnitOfWork(engine) as uow:
        _insert(uow, "dropped")
        uow.rollback()
        _insert(uow, "kept")
        uow.commit()
    assert _drugs(engine) == ["kept"]


def _session_counter(engine: Engine, name: str) -> tuple[int, int]:
    """(connection id, value of a session status counter), leaving nothing open."""
    with engine.connect() as conn:
        conn_id = int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())
        value = int(conn.execute(text(f"SHOW SESSION STATUS LIKE '{name}'")).one()[1])
        conn.commit()
    return conn_id, value


def test_committed_unit_sends_no_rollback(engine: Engine) -> None:
    # The server counts the ROLLBACK statements of a session (Com_rollback). The pool
    # hands the same connection back in a single thread, so the counter before and
    # after a committed unit of work shows whether leaving it cost a rollback.
    conn_before, rollbacks_before = _session_counter(engine, "Com_rollback")
    with UnitOfWork(engine) as uow:
        _insert(uow, "one")
        uow.commit()
    conn_after, rollbacks_after = _session_counter(engine, "Com_rollback")
    assert conn_after == conn_before
    assert rollbacks_after == rollbacks_before
    assert _drugs(engine) == ["one"]
    # ... while leaving an uncommitted one does roll back (the counter can move)
    _, rollbacks_before = _session_counter(engine, "Com_rollback")
    with UnitOfWork(engine) as uow:
        _insert(uow, "two")
    assert _session_counter(engine, "Com_rollback")[1] == rollbacks_before + 1
    assert _drugs(engine) == ["one"]


def test_repositories_work_on_the_units_connection_and_each_block_is_a_transaction(
    migrated_engine: Engine,
) -> None:
    uow = UnitOfWork(migrated_engine)
    with uow:
        repositories = [uow.get(cls) for cls in (
            ConsumptionRepository, QueueRepository, SweepRepository, FeeSheetRepository,
            AlertStateRepository, OutboxRepository, TargetsRepository,
            BackgroundServiceRepository, StockRepository, UsageRepository)]
        assert all(repo.conn is uow.connection for repo in repositories)
        assert uow.get(QueueRepository) is repositories[1]  # one per block
        _insert(uow, "kept")
        uow.commit()
    with uow:  # the same unit again: a new connection and transaction
        # the migrated service row, via its repository
        assert uow.get(BackgroundServiceRepository).read() is not None
        _insert(uow, "rolled back")
    with uow:
        names = [r[0] for r in uow.connection.execute(text("SELECT name FROM drugs"))]
    assert names == ["kept"]
