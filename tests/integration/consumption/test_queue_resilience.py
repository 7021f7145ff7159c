"""One bad visit never stalls the rest (issue 8 C.1), stock arrival fills shortages
while the service runs (C.3), ``sync`` drains the whole queue (C.4), and mapping
problems are reported (C.6 output)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import date

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.batch import drain_change_queue
from aesthetic_inventory.consumption.repositories.health import (
    count_set_aside_visits,
    set_aside_visits,
)
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.unit_of_work import UnitOfWork
from click.testing import CliRunner
from clinic import Clinic
from dbtools import uows
from sqlalchemy.engine import Engine

SERVICE = "aesthetic-inventory"


@pytest.fixture
def botox(clinic: Clinic) -> int:
    drug = clinic.add_drug("Botox", allow_combining=1)
    clinic.add_lot(drug, 100, expiration=date(2027, 1, 1))
    clinic.add_mapping("15828", drug)
    return drug


@pytest.fixture
def refuse_pid(clinic: Clinic) -> Iterator[Callable[[int], None]]:
    """A real server-side failure for one visit only: OpenEMR sites carry their own
    triggers, and one that refuses a row fails that visit's reconcile. Dropped after."""

    def refuse(pid: int) -> None:
        clinic.execute(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON drug_sales FOR EACH ROW "
            f"IF NEW.pid = {pid} THEN SIGNAL SQLSTATE '45000' "
            "SET MESSAGE_TEXT = 'refused by a site trigger'; END IF"
        )

    yield refuse
    clinic.execute("DROP TRIGGER IF EXISTS test_refuse")


def test_failing_visit_is_set_aside_with_backoff_and_the_rest_drains(
    clinic: Clinic, migrated_engine: Engine, botox: int, caplog: pytest.LogCaptureFixture,
    refuse_pid: Callable[[int], None],
) -> None:
    for pid in (1, 2, 3):
        clinic.add_visit(pid, 100)
        clinic.add_line(pid, 100, "15828", 1)
    refuse_pid(2)
    with caplog.at_level(logging.WARNING):
        first = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert (first.visits, first.failed) == (2, 1)
    assert clinic.held(1, 100) == 1 and clinic.held(3, 100) == 1 and clinic.held(2, 100) == 0
    lines = [r.message for r in caplog.records if "set aside" in r.message]
    assert len(lines) == 1 and "pid 2" in lines[0] and "refused by a site trigger" in lines[0]
    with migrated_engine.connect() as conn:
        aside = set_aside_visits(conn)
        assert count_set_aside_visits(conn) == 1
    assert [(v.pid, v.encounter, v.attempts) for v in aside] == [(2, 100, 1)]
    assert "refused by a site trigger" in aside[0].last_error
    # not due yet: the next drains do not touch it (one log line per set-aside, not
    # one per second)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        again = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert (again.visits, again.failed) == (0, 0)
    assert not [r for r in caplog.records if "set aside" in r.message]
    # once due, it is tried again; a second failure doubles the wait
    clinic.execute("UPDATE aesthetic_inventory_change_queue SET next_try_at = NOW(6)")
    drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    row = clinic.rows("SELECT MAX(attempts), TIMESTAMPDIFF(SECOND, NOW(6), MAX(next_try_at)) "
                      "FROM aesthetic_inventory_change_queue")[0]
    assert row[0] == 2 and 8 <= row[1] <= 10
    # the cause fixed, the visit is reconciled and leaves the queue
    clinic.execute("DROP TRIGGER test_refuse")
    clinic.execute("UPDATE aesthetic_inventory_change_queue SET next_try_at = NOW(6)")
    done = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert (done.visits, done.failed) == (1, 0)
    assert clinic.held(2, 100) == 1
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_change_queue") == 0
    assert set(clinic.ledgers().values()) == {0}


def test_stock_arrival_fills_shortages_oldest_visit_first(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler", allow_combining=1)
    lot = clinic.add_lot(drug, 0, expiration=date(2027, 1, 1))
    clinic.add_mapping("11950", drug)
    for pid, day in ((1, 12), (2, 5), (3, 20)):  # visit 2 is the oldest
        clinic.add_visit(pid, 100, date(2026, 3, day))
        clinic.add_line(pid, 100, "11950", 2)
    drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert [clinic.usage(p, 100)[0][4] for p in (1, 2, 3)] == [2, 2, 2]
    # a receipt as OpenEMR's lot screen writes it: on_hand up and a purchase row
    clinic.receive(lot, 3)
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_queue") == 1
    result = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert result.failed == 0
    assert [clinic.held(p, 100) for p in (2, 1, 3)] == [2, 1, 0]  # oldest first
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_queue") == 0
    assert set(clinic.ledgers().values()) == {0}


def test_a_sale_does_not_queue_the_product(clinic: Clinic, migrated_engine: Engine,
                                           botox: int) -> None:
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 2)
    drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert clinic.held(1, 100) == 2
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_queue") == 0


def test_stock_trigger_never_fails_openemr_writes(clinic: Clinic, migrated_engine: Engine
                                                  ) -> None:
    drug = clinic.add_drug("Peel")
    clinic.execute("DROP TABLE aesthetic_inventory_stock_queue")
    lot = clinic.add_lot(drug, 4)  # a purchase row: the trigger's insert fails, silently
    assert clinic.on_hand(lot) == 4


def test_sync_drains_the_whole_queue(clinic: Clinic, migrated_engine: Engine,
                                     migrated_db_url: str, botox: int) -> None:
    clinic.execute("UPDATE drug_inventory SET on_hand = 1000")
    clinic.execute("UPDATE drug_sales SET quantity = -1000")
    clinic.execute("DELETE FROM aesthetic_inventory_stock_queue")
    for enc in range(1, 231):  # more than one batch of 200
        clinic.add_visit(7, enc)
    clinic.execute(
        "INSERT INTO billing (date, code_type, code, pid, provider_id, groupname, authorized, "
        "encounter, code_text, billed, activity, units, fee) "
        "SELECT NOW(), 'CPT4', '15828', 7, 0, 'Default', 1, encounter, '', 0, 1, 1, 0 "
        "FROM form_encounter WHERE pid = 7")
    run = CliRunner().invoke(main, ["--database-url", migrated_db_url, "sync", "--json",
                                    "--since", "2026-03-01"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["queue"]["visits"] == 230
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_change_queue") == 0
    assert clinic.held(7, 230) == 1


def test_overflowing_mapping_is_a_per_mapping_error(
    clinic: Clinic, migrated_engine: Engine, botox: int
) -> None:
    huge = clinic.add_drug("Saline")
    clinic.add_lot(huge, 10)
    clinic.add_mapping("99999", huge, quantity="1000000")
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 2)
    clinic.add_line(1, 100, "99999", 1_000_000)
    result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE)
    assert clinic.held(1, 100) == 2  # Botox still deducted
    assert len(result.problems) == 1 and "CPT4 99999" in result.problems[0]
    assert [m.code for m in result.lines] == ["15828"]


def test_consume_reports_inactive_and_missing_products(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str, botox: int
) -> None:
    clinic.execute("UPDATE drugs SET active = 0 WHERE drug_id = :d", {"d": botox})
    clinic.execute("SET FOREIGN_KEY_CHECKS = 0")
    clinic.execute("ALTER TABLE procedure_products DROP FOREIGN KEY IF EXISTS "
                   "procedure_products_ibfk_1")
    clinic.add_mapping("11950", 987654)  # a product that does not exist
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 1)
    clinic.add_line(1, 100, "11950", 1)
    run = CliRunner().invoke(main, ["--database-url", migrated_db_url, "consume",
                                    "--pid", "1", "--encounter", "100"])
    assert run.exit_code == 0, run.output
    assert "PROBLEM CPT4 11950: mapping" in run.output and "does not exist" in run.output
    assert "PROBLEM CPT4 15828: product Botox is inactive" in run.output
    assert clinic.held(1, 100) == 1


def test_status_lists_set_aside_visits(clinic: Clinic, migrated_engine: Engine,
                                       migrated_db_url: str, botox: int,
                                       refuse_pid: Callable[[int], None]) -> None:
    clinic.add_visit(4, 100)
    clinic.add_line(4, 100, "15828", 1)
    refuse_pid(4)
    drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    run = CliRunner().invoke(main, ["--database-url", migrated_db_url, "status"])
    assert run.exit_code == 0, run.output
    assert "set-aside visits (1; retried with backoff):" in run.output
    assert "pid 4 encounter 100: 1 attempt(s)" in run.output
    assert "refused by a site trigger" in run.output


def test_sync_sets_a_failing_visit_aside_once(clinic: Clinic, migrated_engine: Engine,
                                              migrated_db_url: str, botox: int,
                                              refuse_pid: Callable[[int], None]) -> None:
    """The queue sets it aside; the sweep that follows leaves it to the backoff."""
    clinic.add_visit(5, 100)
    clinic.add_line(5, 100, "15828", 1)
    refuse_pid(5)
    run = CliRunner().invoke(main, ["--database-url", migrated_db_url, "sync",
                                    "--since", "2026-01-01"])
    assert run.exit_code == 1
    assert "1 visit(s) could not be reconciled and were set aside" in run.output
    assert clinic.scalar("SELECT MAX(attempts) FROM aesthetic_inventory_change_queue") == 1
