"""The engine's rows on a Galera cluster, where each node hands out auto-increment ids
in steps of the cluster size (``auto_increment_increment``) and another node's rows of
the same visit can carry ids between ours: the ledger rows of an insert are written for
exactly the rows that insert made, and its vial draws name those rows (simulated on one
server with the session's step)."""

from __future__ import annotations

from datetime import datetime

from aesthetic_inventory.consumption.containers.repository import ContainerRepository
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine

_ROW = ("INSERT INTO drug_sales (sale_id, drug_id, inventory_id, pid, encounter, sale_date, "
        "quantity, fee, selector, trans_type) VALUES (%s, %s, %s, 1, 100, CURDATE(), %s, 0, "
        "'AUTO_PROC:1', 1)")


def test_ledger_rows_are_written_for_this_inserts_rows_only(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler")
    lot = clinic.add_lot(drug, 20)
    clinic.add_visit(1, 100)
    with migrated_engine.begin() as conn:
        conn.exec_driver_sql("SET SESSION auto_increment_increment = 3")  # a 3-node cluster
        first = int(conn.exec_driver_sql(  # one statement: ids first and first + 3
            _ROW + ", (NULL, %s, %s, 1, 100, CURDATE(), %s, 0, 'AUTO_PROC:1', 1)",
            (None, drug, lot, 2, drug, lot, 3)).lastrowid)
        # another node's rows of the same visit, ids between and after ours
        for other in (first + 1, first + 2, first + 4):
            conn.exec_driver_sql(_ROW, (other, drug, lot, 5))
        ConsumptionRepository(conn).ledger_issues(1, 100, first, 2)
        ledgered = conn.execute(text(
            "SELECT sale_id, quantity FROM aesthetic_inventory_stock_ledger "
            "WHERE movement = 'ISSUE' AND reference_id = '1.100' ORDER BY sale_id")).all()
    assert [tuple(r) for r in ledgered] == [(first, -2), (first + 3, -3)]


def test_a_draw_names_this_inserts_row_not_a_newer_one_of_the_same_visit(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Toxin")
    lot = clinic.add_lot(drug, 300)
    clinic.add_visit(1, 100)
    with migrated_engine.begin() as conn:
        conn.exec_driver_sql("SET SESSION auto_increment_increment = 3")  # a 3-node cluster
        vial = int(conn.execute(text(
            "INSERT INTO aesthetic_inventory_container (drug_id, inventory_id, opened_at, "
            "units) VALUES (:d, :i, NOW(), 100)"), {"d": drug, "i": lot}).lastrowid)
        first = int(conn.exec_driver_sql(  # the engine's INSERT: rows first, first + 3
            _ROW + ", (NULL, %s, %s, 1, 100, CURDATE(), %s, 0, 'AUTO_PROC:1', 1)",
            (None, drug, lot, 20, drug, lot, 30)).lastrowid)
        # another node's row of the same visit, mapping and lot, with a higher id
        conn.exec_driver_sql(_ROW, (first + 4, drug, lot, 5))
        repo = ContainerRepository(conn)
        done = repo.insert_visit_draws([(vial, "AUTO_PROC:1", lot, 30, 1)], pid=1,
                                       encounter=100, drawn_at=datetime(2026, 12, 7, 10),
                                       first_sale_id=first)
        drawn = conn.execute(text(
            "SELECT sale_id, units FROM aesthetic_inventory_container_draw")).all()
    assert done == 1 and [tuple(r) for r in drawn] == [(first + 3, 30)]
