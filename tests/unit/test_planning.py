"""Reconcile planning without a database: a visit's plan, the shortage it records, the
snapshot cut, and the sweep's window check over typed rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aesthetic_inventory.consumption.domain import (
    DEFAULT_POLICY,
    HeldSale,
    Lot,
    Requirement,
    StoredUsage,
)
from aesthetic_inventory.consumption.planning import (
    StockChanges,
    UsageRow,
    Visit,
    mapping_plans,
    outcomes,
    snapshot_cut,
    stock_plan,
)
from aesthetic_inventory.consumption.settled import (
    HeldRows,
    LiveMapping,
    UsageRecord,
    WindowFacts,
    unsettled_visits,
)

VISIT = Visit(pid=1, encounter=100, visit_date=date(2026, 3, 10))


def req(mapping_id: int, drug_id: int, units: str, *, combining: bool = True,
        warehouse: str = "") -> Requirement:
    return Requirement(mapping_id, drug_id, "CPT4", f"C{mapping_id}", Decimal(units),
                       allow_combining=combining, default_warehouse=warehouse)


def lot(inventory_id: int, drug_id: int, on_hand: int) -> Lot:
    return Lot(inventory_id, drug_id, on_hand, "onsite", 5, date(2027, 1, 1), f"L{inventory_id}")


def test_surplus_goes_back_before_another_mapping_takes_from_the_same_lot() -> None:
    # mapping 1 now needs nothing and holds 3 units of lot 10 (empty now); mapping 2 of
    # the same product needs 3: it can only be served by the units mapping 1 returns
    reqs = {2: req(2, 7, "3")}
    held = [HeldSale(sale_id=50, mapping_id=1, drug_id=7, inventory_id=10, quantity=3)]
    plans = mapping_plans(reqs, held)
    changes = stock_plan(plans, reqs, VISIT, {10: lot(10, 7, 0)}, DEFAULT_POLICY)
    assert changes.delete == [50]
    assert [(s.inventory_id, s.quantity) for s in changes.new_sales] == [(10, 3)]
    assert changes.deltas[10] == 0 and changes.shortage == {1: 0, 2: 0}


def test_a_shortage_is_what_no_lot_covers_and_is_recorded_in_the_usage_row() -> None:
    reqs = {1: req(1, 7, "5")}
    plans = mapping_plans(reqs, [])
    changes = stock_plan(plans, reqs, VISIT, {10: lot(10, 7, 2)}, DEFAULT_POLICY)
    lines, usage_writes = outcomes(plans, reqs, {}, changes)
    assert (lines[0].required, lines[0].allocated, lines[0].shortage) == (5, 2, 3)
    assert usage_writes == [UsageRow(1, 7, Decimal("5"), 5, 2, 3, "CPT4", "C1")]


def test_an_unchanged_visit_writes_no_usage_row() -> None:
    reqs = {1: req(1, 7, "2")}
    held = [HeldSale(sale_id=50, mapping_id=1, drug_id=7, inventory_id=10, quantity=2)]
    stored = {1: UsageRow(1, 7, Decimal("2"), 2, 2, 0, "CPT4", "C1")}
    plans = mapping_plans(reqs, held)
    changes = stock_plan(plans, reqs, VISIT, {}, DEFAULT_POLICY)
    assert isinstance(changes, StockChanges) and not changes.stock_changed
    assert outcomes(plans, reqs, stored, changes)[1] == []


def test_snapshot_cut_covers_combining_products_of_one_default_warehouse_only() -> None:
    reqs = {1: req(1, 7, "2"), 2: req(2, 7, "3"), 3: req(3, 8, "1", combining=False)}
    cut = snapshot_cut(mapping_plans(reqs, []), reqs, DEFAULT_POLICY)
    assert cut is not None and cut.needs == {7: 5} and cut.default_warehouse == ""
    # two default warehouses lead two different lot orders: no running-total cut
    split = {1: req(1, 7, "2", warehouse="a"), 2: req(2, 7, "3", warehouse="b")}
    assert snapshot_cut(mapping_plans(split, []), split, DEFAULT_POLICY) is None


def test_window_check_over_typed_rows() -> None:
    settled = (1, 100)
    short_of_rows = (2, 200)
    hand_edited = (3, 300)
    facts = WindowFacts(
        live=(
            LiveMapping(*settled, mapping_id=5, drug_id=7, units=2, per_unit=Decimal(1)),
            LiveMapping(*short_of_rows, mapping_id=5, drug_id=7, units=1, per_unit=Decimal(1)),
        ),
        held=(
            HeldRows(*settled, selector="AUTO_PROC:5", drug_id=7, quantity=2, billed=False),
            # not ours: a selector someone edited by hand is left alone
            HeldRows(*hand_edited, selector="MANUAL", drug_id=7, quantity=4, billed=False),
        ),
        usage=(
            UsageRecord(*settled, mapping_id=5, usage=StoredUsage(7, Decimal(2), 2, 2, 0)),
        ),
    )
    unsettled, checked = unsettled_visits(facts)
    assert unsettled == {short_of_rows}
    assert checked == 3
