"""A reconcile locks only the lots its allocation touches and re-checks them under
the lock; when a concurrent save took the stock it had chosen, it locks the head lots
(the bounded snapshot read again) and re-plans on them, never every candidate lot. The
concurrent save is simulated deterministically: a second connection changes the stock
right after the reconcile's first unlocked snapshot read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

SERVICE = "aesthetic-inventory"


@contextmanager
def after_snapshot(engine: Engine, sql: str, params: dict) -> Iterator[list[str]]:
    """Run ``sql`` on another connection (committed) just after the reconcile's first
    unlocked candidate read; records which lock statements the reconcile then issued."""
    original = ConsumptionRepository.candidate_lots
    original_full = ConsumptionRepository.lock_lots
    calls: list[str] = []

    def candidate_lots(self, drug_ids, extra, **kw):  # type: ignore[no-untyped-def]
        lots = original(self, drug_ids, extra, **kw)
        if "snapshot" not in calls:  # once: later reads run while the lots are held
            calls.append("snapshot")
            with engine.begin() as other:
                other.execute(text(sql), params)
        return lots

    def lock_lots(self, drug_ids, extra):  # type: ignore[no-untyped-def]
        calls.append("full")
        return original_full(self, drug_ids, extra)

    ConsumptionRepository.candidate_lots = candidate_lots  # type: ignore[method-assign]
    ConsumptionRepository.lock_lots = lock_lots  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        ConsumptionRepository.candidate_lots = original  # type: ignore[method-assign]
        ConsumptionRepository.lock_lots = original_full  # type: ignore[method-assign]


def _try_lock(engine: Engine, inventory_id: int) -> bool:
    """Whether another connection can lock the lot right now (NOWAIT)."""
    with engine.connect() as other:
        try:
            other.execute(
                text("SELECT on_hand FROM drug_inventory WHERE inventory_id = :i "
                     "FOR UPDATE NOWAIT"),
                {"i": inventory_id},
            )
            return True
        except DBAPIError:
            return False
        finally:
            other.rollback()


def test_only_the_chosen_lots_are_locked(clinic: Clinic, migrated_engine: Engine) -> None:
    drug = clinic.add_drug("Filler", allow_combining=1)
    ids = [clinic.add_lot(drug, 2, expiration=date(2027, 1, 1 + i), lot_number=f"F{i:02d}")
           for i in range(30)]
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 3)
    seen: dict[str, bool] = {}

    def probe(conn: Connection) -> None:  # inside the reconcile's transaction
        seen["first free"] = _try_lock(migrated_engine, ids[0])
        seen["second free"] = _try_lock(migrated_engine, ids[1])
        seen["others free"] = all(_try_lock(migrated_engine, i) for i in ids[2:])

    result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE,
                             after_writes=probe)
    assert result.lines[0].allocated == 3
    # the two chosen lots are held; the 28 other lots of the product are not
    assert seen == {"first free": False, "second free": False, "others free": True}
    assert [clinic.on_hand(i) for i in ids[:3]] == [0, 1, 2]


def test_stock_taken_after_the_snapshot_locks_the_head_lots_not_every_lot(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler", allow_combining=1)
    ids = [clinic.add_lot(drug, 2, expiration=date(2027, 1, 1 + i)) for i in range(6)]
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 3)
    free: dict[int, bool] = {}

    def probe(conn: Connection) -> None:  # inside the reconcile's transaction
        free.update({i: _try_lock(migrated_engine, ids[i]) for i in range(6)})

    # a concurrent sale empties the first lot between our read and our lock
    with after_snapshot(migrated_engine,
                        "UPDATE drug_inventory SET on_hand = 0 WHERE inventory_id = :i",
                        {"i": ids[0]}) as calls:
        result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE,
                                 after_writes=probe)
    assert calls == ["snapshot"]  # the re-plan needed lot 3: no lock of every lot
    assert result.lines[0].allocated == 3 and result.shortage == 0
    assert [clinic.on_hand(i) for i in ids[:4]] == [0, 0, 1, 2]  # never below zero
    # held: the first plan's lots and the head read again; the lots after it are free
    assert free == {0: False, 1: False, 2: False, 3: True, 4: True, 5: True}


def test_stock_changed_on_a_locked_lot_is_replanned_without_the_full_lock(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler", allow_combining=1)
    ids = [clinic.add_lot(drug, 2, expiration=date(2027, 1, 1 + i)) for i in range(6)]
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 3)
    # a purchase adds to the second chosen lot meanwhile: the chosen lots still cover it
    with after_snapshot(migrated_engine,
                        "UPDATE drug_inventory SET on_hand = on_hand + 5 WHERE inventory_id = :i",
                        {"i": ids[1]}) as calls:
        result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE)
    assert calls == ["snapshot"]
    assert result.lines[0].allocated == 3
    assert [clinic.on_hand(i) for i in ids[:3]] == [0, 6, 2]


def test_nothing_changed_after_the_snapshot_needs_no_full_lock(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler", allow_combining=0)
    ids = [clinic.add_lot(drug, n, expiration=date(2027, 1, 1 + i)) for i, n in
           enumerate((1, 2, 4, 4))]
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 3)
    with after_snapshot(migrated_engine, "SELECT 1", {}) as calls:
        result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE)
    assert calls == ["snapshot"]
    assert result.lines[0].allocated == 3  # no combining: the first lot holding 3
    assert [clinic.on_hand(i) for i in ids] == [1, 2, 1, 4]


@pytest.mark.parametrize("deep_lots", [None, 0])
def test_cut_snapshot_chooses_exactly_what_the_full_read_chooses(
    clinic: Clinic, migrated_engine: Engine, deep_lots: int | None
) -> None:
    """Running-total cut vs every candidate lot: the same FEFO choice for every need,
    across warehouses (seq, unavailable seq > 99, default first), expired and
    never-expiring lots, lots without a warehouse, negative lots and ties on
    expiration broken by lot number under the collation ('a' = 'a '). ``deep_lots``
    0: after the first read every product is read bounded (issue 21), None: the
    window read of a product with few lots."""
    from aesthetic_inventory.consumption.domain import Requirement, allocate

    clinic.add_warehouse("back", 7)
    clinic.add_warehouse("far", 150)
    drug = clinic.add_drug("Mix", allow_combining=1)
    specs = [  # (on_hand, expiration, lot_number, warehouse)
        (3, date(2027, 5, 1), "b", "onsite"), (2, date(2027, 5, 1), "A", "onsite"),
        (4, None, "n", "onsite"), (5, date(2026, 1, 1), "x", "onsite"),  # expired
        (6, date(2026, 12, 1), "c", "back"), (9, date(2026, 11, 1), "f", "far"),
        (-2, date(2026, 10, 1), "neg", "onsite"), (1, date(2026, 10, 1), "d", "onsite"),
        (2, date(2027, 5, 1), "a", "back"), (7, date(2028, 1, 1), "z", "onsite"),
        (2, date(2027, 5, 1), "a ", "back"), (1, date(2026, 9, 1), "e", ""),
    ]
    for on_hand, exp, number, wh in specs:
        clinic.add_lot(drug, on_hand, expiration=exp, lot_number=number, warehouse=wh)
    sale = date(2026, 3, 10)
    with migrated_engine.connect() as conn:
        repo = ConsumptionRepository(conn)
        repo.deep_lots = deep_lots
        full = repo.candidate_lots([drug], [])
        repo.candidate_lots([drug], [], needs={drug: 1}, sale_date=sale)  # learns: deep?
        for wh in ("", "back", "far"):
            for need in range(1, 30):
                cut = repo.candidate_lots([drug], [], needs={drug: need},
                                          default_warehouse=wh, sale_date=sale)
                req = Requirement(1, drug, "CPT4", "X", Decimal(need), True, True, "u", wh)
                assert allocate(req, cut, sale_date=sale) == allocate(req, full, sale_date=sale), (
                    wh, need)
                assert len(cut) <= len(full)
        small = repo.candidate_lots([drug], [], needs={drug: 1}, sale_date=sale)
    assert len(small) < len(full) // 2  # the cut really reads fewer lots


@pytest.mark.parametrize("taken", [1, 2])
def test_rows_written_before_the_lock_are_brought_to_the_final_plan(
    clinic: Clinic, migrated_engine: Engine, taken: int
) -> None:
    """Issue 21: the sales rows and their ledger rows are written before the lot UPDATE.
    When that UPDATE finds the plan stale (a concurrent save took ``taken`` of the 2
    units of the first lot), the rows end as a fresh plan on the new stock would write
    them (one row per lot), and both ledgers hold exactly the final plan's movements."""
    drug = clinic.add_drug("Filler", allow_combining=1)
    ids = [clinic.add_lot(drug, 2, expiration=date(2027, 1, 1 + i)) for i in range(4)]
    start = clinic.stock_ledger_sums()
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 3)
    with after_snapshot(migrated_engine,
                        "UPDATE drug_inventory SET on_hand = on_hand - :n WHERE inventory_id = :i",
                        {"n": taken, "i": ids[0]}):
        result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE)
    assert result.lines[0].allocated == 3 and result.shortage == 0
    rows = sorted((inv, qty) for _sel, inv, qty, *_ in clinic.auto_rows(1, 100))
    fresh = {1: [(ids[0], 1), (ids[1], 2)], 2: [(ids[1], 2), (ids[2], 1)]}[taken]
    assert rows == fresh
    # (the concurrent change wrote no sale row: the first lot is off by exactly it)
    assert {i: clinic.ledgers()[i] for i in ids} == {ids[0]: -taken, ids[1]: 0, ids[2]: 0,
                                                     ids[3]: 0}
    moved = {i: clinic.stock_ledger_sums().get(i, 0) - start.get(i, 0) for i in ids}
    assert moved == {i: -dict(fresh).get(i, 0) for i in ids}
    assert [clinic.on_hand(i) for i in ids] == [2 - taken - dict(fresh).get(ids[0], 0),
                                                2 - dict(fresh).get(ids[1], 0),
                                                2 - dict(fresh).get(ids[2], 0), 2]


def test_reading_the_held_rows_lot_numbers_locks_no_lot(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    """The visit's lock (``FOR UPDATE``) reads the lot number of each held row through a
    scalar subquery, which the server does not lock: an unchanged re-save holds no lot,
    and a return names its lot without reading it."""
    drug = clinic.add_drug("Filler", allow_combining=1)
    lot = clinic.add_lot(drug, 5, expiration=date(2027, 1, 1), lot_number="LOT-7")
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    line = clinic.add_line(1, 100, "11950", 3)
    reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE)
    free: list[bool] = []
    reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE,
                    after_writes=lambda conn: free.append(_try_lock(migrated_engine, lot)))
    assert free == [True]
    clinic.execute("UPDATE billing SET units = 1 WHERE id = :i", {"i": line})
    result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE)
    assert [(m.inventory_id, m.lot_number, m.quantity) for m in result.lines[0].lots] == [
        (lot, "LOT-7", -2)]
    assert clinic.on_hand(lot) == 4


def test_a_lock_read_that_missed_a_row_its_snapshot_holds_runs_again(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    """On a Galera cluster the visit's lock is local: another node's reconcile of the
    same visit can commit a row after this reconcile's lock read, before its snapshot.
    Simulated by a first lock read that misses that row. The reconcile plans on
    neither read: it runs again, and then holds the other node's row as its own (no
    second take for the same need)."""
    drug = clinic.add_drug("Filler", allow_combining=1)
    ids = [clinic.add_lot(drug, 4, expiration=date(2027, 1, 1 + i)) for i in range(3)]
    mapping = clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 2)
    # the other node's committed row: 1 unit from the last lot (stock moved with it)
    clinic.execute(
        "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, quantity, "
        "fee, selector, trans_type) VALUES (:d, :i, 1, 100, CURDATE(), 1, 0, :s, 1)",
        {"d": drug, "i": ids[2], "s": f"AUTO_PROC:{mapping}"})
    clinic.execute("UPDATE drug_inventory SET on_hand = 3 WHERE inventory_id = :i",
                   {"i": ids[2]})
    original = ConsumptionRepository.lock_visit_and_held
    reads: list[int] = []

    def first_read_misses_it(self, pid, encounter, today=None):  # type: ignore[no-untyped-def]
        visit, held = original(self, pid, encounter, today)
        reads.append(len(held))
        if len(reads) == 1:  # as the lock read would have seen it before the commit
            return replace(visit, auto_rows=(0, 0)), []
        return visit, held

    ConsumptionRepository.lock_visit_and_held = first_read_misses_it  # type: ignore[method-assign]
    try:
        result = reconcile_visit(UnitOfWork(migrated_engine), 1, 100, service_username=SERVICE)
    finally:
        ConsumptionRepository.lock_visit_and_held = original  # type: ignore[method-assign]
    assert reads == [1, 1] and result.lines[0].allocated == 2
    rows = sorted((inv, qty) for _sel, inv, qty, *_ in clinic.auto_rows(1, 100))
    assert rows == [(ids[0], 1), (ids[2], 1)]  # one more unit, not two
    assert {i: clinic.ledgers()[i] for i in ids} == {i: 0 for i in ids}
