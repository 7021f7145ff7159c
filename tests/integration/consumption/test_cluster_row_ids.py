"""The engine's rows on a Galera cluster, where each node hands out auto-increment ids
in steps of the cluster size (``auto_increment_increment``) and another node's rows of
the same visit can carry ids between ours: the ledger rows of an insert are written for
exactly the rows that insert made, and its vial draws name those rows (simulated on one
server with the session's step)."""

from __future__ import annotations

from datetime import datetime

import pytest
from aesthetic_inventory.consumption.containers.repository import ContainerRepository
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

_ROW = ("INSERT INTO drug_sales (sale_id, drug_id, inventory_id, pid, encounter, sale_date, "
        "quantity, fee, selector, trans_type) VALUES (%s, %s, %s, 1, 100, CURDATE(), %s, 0, "
        "'AUTO_PROC:1', 1)")


def _engine_insert(conn: Connection, drug: int, lot: int, quantities: tuple[int, int],
                   others: tuple[int, ...]) -> int:
    """On a "3-node cluster" session: the engine's one INSERT of two rows (ids first and
    first + 3), then another node's rows of the same visit at ``first + k`` for each k
    of ``others``. Returns first."""
    conn.exec_driver_sql("SET SESSION auto_increment_increment = 3")
    first = int(conn.exec_driver_sql(
        _ROW + ", (NULL, %s, %s, 1, 100, CURDATE(), %s, 0, 'AUTO_PROC:1', 1)",
        (None, drug, lot, quantities[0], drug, lot, quantities[1])).lastrowid)
    for k in others:
        conn.exec_driver_sql(_ROW, (first + k, drug, lot, 5))
    return first


@pytest.fixture
def stocked(clinic: Clinic) -> tuple[int, int]:
    """A product with one lot of 300, and visit (1, 100)."""
    drug = clinic.add_drug("Toxin")
    lot = clinic.add_lot(drug, 300)
    clinic.add_visit(1, 100)
    return drug, lot


def test_ledger_rows_are_written_for_this_inserts_rows_only(
    migrated_engine: Engine, stocked: tuple[int, int]
) -> None:
    drug, lot = stocked
    with migrated_engine.begin() as conn:
        # another node's rows of the same visit, ids between and after ours
        first = _engine_insert(conn, drug, lot, (2, 3), (1, 2, 4))
        ConsumptionRepository(conn).ledger_issues(1, 100, first, 2)
        ledgered = conn.execute(text(
            "SELECT sale_id, quantity FROM aesthetic_inventory_stock_ledger "
            "WHERE movement = 'ISSUE' AND reference_id = '1.100' ORDER BY sale_id")).all()
    assert [tuple(r) for r in ledgered] == [(first, -2), (first + 3, -3)]


def test_a_draw_names_this_inserts_row_not_a_newer_one_of_the_same_visit(
    migrated_engine: Engine, stocked: tuple[int, int]
) -> None:
    drug, lot = stocked
    with migrated_engine.begin() as conn:
        vial = int(conn.execute(text(
            "INSERT INTO aesthetic_inventory_container (drug_id, inventory_id, opened_at, "
            "units) VALUES (:d, :i, NOW(), 100)"), {"d": drug, "i": lot}).lastrowid)
        # another node's row of the same visit, mapping and lot, with a higher id
        first = _engine_insert(conn, drug, lot, (20, 30), (4,))
        repo = ContainerRepository(conn)
        done = repo.insert_visit_draws([(vial, "AUTO_PROC:1", lot, 30, 1)], pid=1,
                                       encounter=100, drawn_at=datetime(2026, 12, 7, 10),
                                       first_sale_id=first)
        drawn = conn.execute(text(
            "SELECT sale_id, units FROM aesthetic_inventory_container_draw")).all()
    assert done == 1 and [tuple(r) for r in drawn] == [(first + 3, 30)]


def test_a_stale_plan_corrects_only_the_rows_its_own_insert_made(
    migrated_engine: Engine, stocked: tuple[int, int]
) -> None:
    """A row of the visit committed by another node before this INSERT (a lower id) is
    in the snapshot but is not this reconcile's to shrink or delete."""
    drug, lot = stocked
    with migrated_engine.begin() as conn:
        conn.exec_driver_sql(_ROW, (None, drug, lot, 5))  # the other node's row
        first = _engine_insert(conn, drug, lot, (2, 3), ())
        own = ConsumptionRepository(conn).own_rows(1, 100, first)
    assert [(sale_id, quantity) for sale_id, _sel, _lot, quantity in own] == [
        (first, 2), (first + 3, 3)]
