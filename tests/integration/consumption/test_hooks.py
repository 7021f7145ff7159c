"""Hooks: the fee-sheet API, the billing triggers + queue worker, and the sweep."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import dbtools
import pytest
from aesthetic_inventory.consumption.batch import drain_change_queue, sweep_visits
from aesthetic_inventory.consumption.fee_sheet import FeeSheetChanges, NewLine, save_fee_sheet
from aesthetic_inventory.consumption.repositories import QueueRepository
from aesthetic_inventory.errors import InvalidInputError, UnknownVisitError
from aesthetic_inventory.install import triggers
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from dbtools import uows
from sqlalchemy import text
from sqlalchemy.engine import Engine

SERVICE = "aesthetic-inventory"


@pytest.fixture
def stocked(clinic: Clinic) -> dict[str, int]:
    drug = clinic.add_drug("Botox")
    ids = {"drug": drug, "lot": clinic.add_lot(drug, 10, lot_number="B1"),
           "mapping": clinic.add_mapping("15828", drug)}
    clinic.execute(
        "INSERT INTO codes (code_text, code, code_type, fee) "
        "VALUES ('Botox injection', '15828', 1, 250.00)"
    )
    clinic.add_visit(1, 100)
    return ids


def save(engine: Engine, changes: FeeSheetChanges, **kw):  # type: ignore[no-untyped-def]
    return save_fee_sheet(UnitOfWork(engine), 1, 100, changes, service_username=SERVICE, **kw)


def queue_len(clinic: Clinic) -> int:
    return int(clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_change_queue"))


def test_fee_sheet_api_writes_lines_like_openemr_and_reconciles(
    clinic: Clinic, migrated_engine: Engine, stocked: dict[str, int]
) -> None:
    user = clinic.add_user("drsmith")
    (line,), result = save(migrated_engine, FeeSheetChanges(add=[NewLine("CPT4", "15828", 2)]),
                           user_id=user)
    row = clinic.rows(
        "SELECT code_type, code, code_text, pid, encounter, user, groupname, authorized, "
        "billed, activity, units, fee FROM billing WHERE id = :i", {"i": line})[0]
    assert row == ("CPT4", "15828", "Botox injection", 1, 100, user, "Default", 1, 0, 1, 2,
                   Decimal("500.00"))
    assert result.lines[0].allocated == 2 and clinic.on_hand(stocked["lot"]) == 8
    assert queue_len(clinic) == 0  # reconciled already: the trigger's entry is dropped
    _, result = save(migrated_engine, FeeSheetChanges(units={line: 5}))
    assert clinic.on_hand(stocked["lot"]) == 5
    _, result = save(migrated_engine, FeeSheetChanges(delete=[line]))
    assert clinic.scalar("SELECT activity FROM billing WHERE id = :i", {"i": line}) == 0
    assert clinic.on_hand(stocked["lot"]) == 10 and clinic.auto_rows(1, 100) == []


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (FeeSheetChanges(add=[NewLine("CPT4", "15828", 0)]), InvalidInputError),
        (FeeSheetChanges(add=[NewLine("CPT4", "15828", -2)]), InvalidInputError),
        (FeeSheetChanges(add=[NewLine("NOPE", "15828", 1)]), InvalidInputError),
        (FeeSheetChanges(units={999: 2}), InvalidInputError),
    ],
)
def test_fee_sheet_bad_input_changes_nothing(
    clinic: Clinic, migrated_engine: Engine, stocked: dict[str, int],
    changes: FeeSheetChanges, error: type[Exception],
) -> None:
    with pytest.raises(error):
        save(migrated_engine, changes)
    assert clinic.scalar("SELECT COUNT(*) FROM billing") == 0
    assert clinic.on_hand(stocked["lot"]) == 10


def test_fee_sheet_unknown_visit(clinic: Clinic, migrated_engine: Engine) -> None:
    with pytest.raises(UnknownVisitError):
        save_fee_sheet(UnitOfWork(migrated_engine), 5, 5,
                       FeeSheetChanges(add=[NewLine("CPT4", "15828")]), service_username=SERVICE)
    assert clinic.scalar("SELECT COUNT(*) FROM billing") == 0


def test_triggers_queue_php_style_writes_and_worker_drains(
    clinic: Clinic, migrated_engine: Engine, stocked: dict[str, int]
) -> None:
    with migrated_engine.connect() as conn:
        assert triggers.trigger_status(conn).mode == "triggers"
    line = clinic.add_line(1, 100, "15828", 3)
    assert queue_len(clinic) == 1
    result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert (result.visits, result.changed) == (1, 1)
    assert queue_len(clinic) == 0 and clinic.on_hand(stocked["lot"]) == 7
    # checkout flips billed / bill_process: not a change of the requirement, not queued
    clinic.execute("UPDATE billing SET billed = 1, bill_process = 1 WHERE id = :i", {"i": line})
    assert queue_len(clinic) == 0
    # moving a line to another visit queues both visits
    clinic.add_visit(1, 101)
    clinic.execute("UPDATE billing SET encounter = 101 WHERE id = :i", {"i": line})
    assert sorted(clinic.rows(
        "SELECT pid, encounter FROM aesthetic_inventory_change_queue")) == [(1, 100), (1, 101)]
    drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert clinic.held(1, 100) == 0 and clinic.held(1, 101) == 3
    clinic.execute("DELETE FROM billing WHERE id = :i", {"i": line})
    drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert clinic.on_hand(stocked["lot"]) == 10 and queue_len(clinic) == 0


def test_empty_queue_drain_is_one_read(migrated_engine: Engine) -> None:
    with dbtools.count_statements(migrated_engine) as log:
        result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert result.visits == 0 and log.count == 1 and log.writes == []


def test_queue_rows_of_unknown_visits_are_dropped(
    clinic: Clinic, migrated_engine: Engine, stocked: dict[str, int]
) -> None:
    clinic.add_line(9, 999, "15828", 1)
    result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert result.skipped == 1 and queue_len(clinic) == 0


def test_queue_rows_locked_by_another_worker_are_skipped(
    clinic: Clinic, migrated_engine: Engine, stocked: dict[str, int]
) -> None:
    clinic.add_line(1, 100, "15828", 1)
    with migrated_engine.connect() as other:
        other.execute(text("SELECT id FROM aesthetic_inventory_change_queue FOR UPDATE"))
        result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
        assert result.skipped == 1 and clinic.on_hand(stocked["lot"]) == 10
        other.rollback()
    result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert result.changed == 1 and clinic.on_hand(stocked["lot"]) == 9


def test_ensure_triggers_is_idempotent_and_dry_run_creates_nothing(
    migrated_engine: Engine,
) -> None:
    with migrated_engine.connect() as conn:
        assert triggers.ensure_triggers(conn).created == ()
        for name in triggers.TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name}"))
        report = triggers.ensure_triggers(conn, dry_run=True)
        assert not report.installed and "would create" in report.message
        assert triggers.trigger_status(conn).mode == "sweep"
        assert len(triggers.ensure_triggers(conn).created) == 3
        assert triggers.trigger_status(conn).installed


def test_without_trigger_privilege_migrate_reports_sweep_mode(
    mysql_server: dbtools.ServerInfo, migrated_db_url: str, migrated_engine: Engine
) -> None:
    from aesthetic_inventory.db import create_db_engine
    from sqlalchemy.engine import make_url

    db = make_url(migrated_db_url).database
    user = f"nt_{db[-8:]}"
    with migrated_engine.connect() as conn:
        for name in triggers.TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name}"))
        conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'"))
        conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.* TO '{user}'@'%'"))
    limited = create_db_engine(
        make_url(migrated_db_url).set(username=user, password="pw").render_as_string(False)
    )
    try:
        with limited.connect() as conn:
            report = triggers.ensure_triggers(conn)
        assert not report.installed and report.mode == "sweep"
        assert "TRIGGER privilege" in report.message
        with migrated_engine.connect() as conn:
            assert triggers.trigger_status(conn).mode == "sweep"
    finally:
        limited.dispose()
        with migrated_engine.connect() as conn:
            conn.execute(text(f"DROP USER '{user}'@'%'"))


def test_sweep_finds_recent_lines_open_shortages_and_vanished_mappings(
    clinic: Clinic, migrated_engine: Engine, stocked: dict[str, int]
) -> None:
    with migrated_engine.begin() as conn:  # sweep mode: no triggers
        for name in triggers.TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name}"))
    clinic.add_line(1, 100, "15828", 4)
    clinic.add_visit(2, 200)
    clinic.add_line(2, 200, "15828", 9)
    result = sweep_visits(uows(migrated_engine), since=date.today(), service_username=SERVICE)
    assert result.visits == 2 and result.shortage_units == 3
    assert clinic.on_hand(stocked["lot"]) == 0
    # an old line outside the window is still swept while it has an open shortage
    clinic.execute("UPDATE billing SET date = '2020-01-01'")
    clinic.receive(stocked["lot"], 5)
    result = sweep_visits(uows(migrated_engine), since=date.today(), service_username=SERVICE)
    assert clinic.held(2, 200) == 9 and clinic.on_hand(stocked["lot"]) == 2
    # a deleted mapping: its unbilled rows are found and returned, whatever their date
    clinic.execute("DELETE FROM procedure_products")
    clinic.execute("UPDATE drug_sales SET sale_date = '2020-01-01'")
    result = sweep_visits(uows(migrated_engine), since=date.today(), service_username=SERVICE)
    assert result.changed == 2 and clinic.on_hand(stocked["lot"]) == 15
    assert set(clinic.ledgers().values()) == {0}


def test_a_failing_visit_does_not_block_the_others(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str, stocked: dict[str, int]
) -> None:
    # a server-side error for one visit only (a ledger trigger that rejects pid 666)
    clinic.execute(
        "CREATE TRIGGER test_poison BEFORE INSERT ON drug_sales FOR EACH ROW "
        "IF NEW.pid = 666 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'poison'; END IF"
    )
    clinic.add_visit(666, 1)
    clinic.add_line(666, 1, "15828", 1)
    clinic.add_line(1, 100, "15828", 2)
    result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert (result.failed, result.changed) == (1, 1)
    assert clinic.held(1, 100) == 2 and clinic.held(666, 1) == 0
    # the failed visit stays queued for the next run
    assert clinic.rows("SELECT pid FROM aesthetic_inventory_change_queue") == [(666,)]
    from aesthetic_inventory.cli import main
    from click.testing import CliRunner

    # set aside with backoff: a sync right away leaves it to its next try ...
    out = CliRunner().invoke(main, ["--database-url", migrated_db_url, "sync"])
    assert out.exit_code == 0, out.output
    # ... and once due it is tried (and set aside) again
    clinic.execute("UPDATE aesthetic_inventory_change_queue SET next_try_at = NOW(6)")
    out = CliRunner().invoke(main, ["--database-url", migrated_db_url, "sync"])
    assert out.exit_code == 1 and "could not be reconciled" in out.output
    assert clinic.on_hand(stocked["lot"]) == 8
    assert clinic.scalar("SELECT MAX(attempts) FROM aesthetic_inventory_change_queue") == 2
    clinic.execute("DROP TRIGGER test_poison")


def _killed_worker(url: str) -> None:  # runs in a child process
    import os

    from aesthetic_inventory.consumption.service import reconcile_in_transaction
    from aesthetic_inventory.db import create_db_engine
    from aesthetic_inventory.unit_of_work import UnitOfWork

    with UnitOfWork(create_db_engine(url)) as uow:
        ids = uow.get(QueueRepository).claim(1, 100)
        reconcile_in_transaction(uow, 1, 100, service_username=SERVICE)
        uow.get(QueueRepository).delete(ids)
        os._exit(9)  # killed before the commit


def test_worker_killed_midway_leaves_queue_and_stock_for_the_next_run(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str, stocked: dict[str, int]
) -> None:
    import multiprocessing

    clinic.add_line(1, 100, "15828", 4)
    proc = multiprocessing.get_context("fork").Process(target=_killed_worker,
                                                       args=(migrated_db_url,))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 9
    assert queue_len(clinic) == 1 and clinic.on_hand(stocked["lot"]) == 10
    assert clinic.auto_rows(1, 100) == []
    # the server may take a moment to notice the dead connection and release its locks;
    # until then the worker skips the locked rows (never waits on them)
    for _ in range(100):
        result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
        if result.visits:
            break
        time.sleep(0.05)
    assert result.changed == 1 and clinic.on_hand(stocked["lot"]) == 6
    assert queue_len(clinic) == 0
