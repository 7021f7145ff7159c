"""Statements a reconcile costs on the wire (server ``Questions``) when the visit has
recorded actuals or pending fee-sheet edits: the actuals ride in the reconcile's one
visit read, so a visit with actuals costs what a visit without them costs; absorbing
fee-sheet edits adds exactly its four writes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from aesthetic_inventory.consumption.batch import sweep_visits
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.service import MaterialInput, record_usage
from clinic import Clinic
from dbtools import uows
from sqlalchemy.engine import Engine

SERVICE = "aesthetic-inventory"


@contextmanager
def server_statements(engine: Engine) -> Iterator[list[int]]:
    """Global ``Questions`` of the private test server around the block (the counter's
    own SHOW is subtracted; a pooled connection is warmed first)."""
    raw = engine.raw_connection()
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")

    def questions() -> int:
        cur = raw.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
        return int(cur.fetchone()[1])

    first = questions()
    overhead = questions() - first
    start = questions()
    out: list[int] = []
    try:
        yield out
    finally:
        out.append(questions() - start - overhead)
        raw.close()


def _visit(clinic: Clinic, enc: int, drug: int) -> None:
    if enc == 1:
        clinic.add_user("nurse1")  # who records: an active OpenEMR user
    clinic.add_visit(1, enc)
    clinic.add_line(1, enc, "15828", 1)
    reconcile_visit(UnitOfWork(clinic.engine), 1, enc, service_username=SERVICE)


def _reconcile(engine: Engine, enc: int):  # type: ignore[no-untyped-def]
    with server_statements(engine) as count:
        result = reconcile_visit(UnitOfWork(engine), 1, enc, service_username=SERVICE)
    return count[0], result


def test_actuals_cost_no_extra_statement(clinic: Clinic, migrated_engine: Engine) -> None:
    drug = clinic.add_drug("Botox", allow_combining=1)
    for n in range(4):
        clinic.add_lot(drug, 5, lot_number=f"L{n}")
    clinic.add_mapping("15828", drug)
    _visit(clinic, 1, drug)  # plan only
    _visit(clinic, 2, drug)
    record_usage(uows(migrated_engine), 1, 2,
                 [MaterialInput("CPT4", "15828", "3", reason="WASTAGE")],
                 user="nurse1", service_username=SERVICE)
    plain, r1 = _reconcile(migrated_engine, 1)
    with_actual, r2 = _reconcile(migrated_engine, 2)
    print("unchanged re-save, without / with an actual:", plain, with_actual)
    assert r1.writes == 0 and r2.writes == 0 and clinic.held(1, 2) == 3
    assert with_actual == plain

    # a stock change driven by an actual costs what a stock change driven by billing costs
    clinic.add_line(1, 1, "15828", 1)  # plan 1 -> 2: take one more
    clinic.execute("UPDATE aesthetic_inventory_usage SET actual_quantity = 4 "
                   "WHERE pid = 1 AND encounter = 2")  # actual 3 -> 4: take one more
    by_plan, r3 = _reconcile(migrated_engine, 1)
    by_actual, r4 = _reconcile(migrated_engine, 2)
    print("one more unit, by the plan / by the actual:", by_plan, by_actual)
    assert r3.changed and r4.changed and clinic.held(1, 2) == 4
    assert by_actual == by_plan


def test_absorbing_fee_sheet_edits_costs_four_writes(clinic: Clinic,
                                                      migrated_engine: Engine) -> None:
    drug = clinic.add_drug("Botox", allow_combining=1)
    clinic.add_lot(drug, 9, lot_number="L1")
    clinic.add_mapping("15828", drug)
    _visit(clinic, 1, drug)
    _visit(clinic, 2, drug)
    [sale] = clinic.auto_sale_ids(1, 2)
    clinic.fee_sheet_set_quantity(sale, 2)
    plain, _ = _reconcile(migrated_engine, 1)
    absorbing, result = _reconcile(migrated_engine, 2)
    print("unchanged re-save / absorbing an edit:", plain, absorbing)
    # the actual, its history row, the consumed edits, and the usage record's new
    # required/allocated units (2 now): no stock write, the edit is not undone
    assert absorbing == plain + 4
    assert not result.changed and clinic.held(1, 2) == 2


def test_sweep_finds_nothing_to_do_for_a_visit_with_an_actual(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Botox", allow_combining=1)
    clinic.add_lot(drug, 9, lot_number="L1")
    clinic.add_mapping("15828", drug)
    _visit(clinic, 1, drug)
    record_usage(uows(migrated_engine), 1, 1,
                 [MaterialInput("CPT4", "15828", "2", reason="WASTAGE")],
                 user="nurse1", service_username=SERVICE)
    result = sweep_visits(uows(migrated_engine), since=date(2026, 1, 1), service_username=SERVICE)
    assert (result.visits, result.checked) == (0, 0)
    assert clinic.held(1, 1) == 2
