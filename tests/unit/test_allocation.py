"""Table-driven tests of the lot rules (OpenEMR sellDrug) and the reconcile plan."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.domain import (
    Allocation,
    HeldSale,
    Lot,
    Requirement,
    ReturnStep,
    allocate,
    lot_sort_key,
    parse_selector,
    plan_mapping,
    plan_returns,
    selector_for,
)

SALE = date(2026, 3, 10)


def req(units: int | str, *, combining: bool = True, dispensable: bool = True,
        warehouse: str = "") -> Requirement:
    return Requirement(1, 7, "CPT4", "15828", Decimal(str(units)), combining, dispensable,
                       "u", warehouse)


def lot(inv: int, on_hand: int, **kw) -> Lot:  # type: ignore[no-untyped-def]
    kw.setdefault("warehouse_id", "onsite")
    kw.setdefault("warehouse_seq", 5)
    return Lot(inventory_id=inv, drug_id=kw.pop("drug_id", 7), on_hand=on_hand, **kw)


CASES = [
    # (id, requirement, lots, expected allocations, expected shortage)
    ("earliest expiration first", req(3),
     [lot(1, 5, expiration=date(2027, 1, 1)), lot(2, 5, expiration=date(2026, 6, 1))],
     [(2, 3)], 0),
    ("null expiration sorts first (MySQL NULLs first)", req(3),
     [lot(1, 5, expiration=date(2026, 6, 1)), lot(2, 5, expiration=None)],
     [(2, 3)], 0),
    ("lot number breaks expiration ties", req(2),
     [lot(1, 5, lot_number="B"), lot(2, 5, lot_number="A")], [(2, 2)], 0),
    ("inventory id breaks full ties", req(2), [lot(3, 5), lot(2, 5)], [(2, 2)], 0),
    ("warehouse seq before expiration", req(2),
     [lot(1, 5, warehouse_id="a", warehouse_seq=10, expiration=date(2026, 4, 1)),
      lot(2, 5, warehouse_id="b", warehouse_seq=1, expiration=date(2027, 4, 1))],
     [(2, 2)], 0),
    ("default warehouse first", req(2, warehouse="b"),
     [lot(1, 5, warehouse_id="a", warehouse_seq=1),
      lot(2, 5, warehouse_id="b", warehouse_seq=50)], [(2, 2)], 0),
    ("other warehouse with seq > 99 unavailable", req(2),
     [lot(1, 5, warehouse_id="far", warehouse_seq=100)], [], 2),
    ("default warehouse with seq > 99 still available", req(2, warehouse="far"),
     [lot(1, 5, warehouse_id="far", warehouse_seq=100)], [(1, 2)], 0),
    ("seq exactly 99 available", req(2), [lot(1, 5, warehouse_seq=99)], [(1, 2)], 0),
    ("destroyed lot skipped", req(2), [lot(1, 5, destroyed=True), lot(2, 5)], [(2, 2)], 0),
    ("empty lot skipped", req(2), [lot(1, 0), lot(2, 5)], [(2, 2)], 0),
    ("negative lot never taken from", req(2), [lot(1, -3)], [], 2),
    ("expired on the sale date skipped", req(2),
     [lot(1, 5, expiration=SALE), lot(2, 5, expiration=date(2026, 3, 11))], [(2, 2)], 0),
    ("expired before the sale date skipped", req(2),
     [lot(1, 5, expiration=date(2025, 1, 1))], [], 2),
    ("other products ignored", req(2), [lot(1, 5, drug_id=8)], [], 2),
    ("combining fills from several lots", req(7), [lot(1, 3), lot(2, 5)], [(1, 3), (2, 4)], 0),
    ("combining partial fill leaves a shortage", req(9), [lot(1, 3), lot(2, 5)],
     [(1, 3), (2, 5)], 1),
    ("without combining one lot must cover all", req(4, combining=False),
     [lot(1, 3), lot(2, 5)], [(2, 4)], 0),
    ("without combining and no lot big enough nothing taken", req(6, combining=False),
     [lot(1, 3), lot(2, 5)], [], 6),
    ("non-dispensable: one row, lot 0", req(3, dispensable=False), [lot(1, 5)], [(0, 3)], 0),
    ("zero requirement takes nothing", req(0), [lot(1, 5)], [], 0),
    ("fraction rounds up", req("1.2"), [lot(1, 5)], [(1, 2)], 0),
]


@pytest.mark.parametrize(
    ("requirement", "lots", "expected", "shortage"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_lot_rules(requirement: Requirement, lots: list[Lot], expected: list[tuple[int, int]],
                   shortage: int) -> None:
    result = allocate(requirement, lots, sale_date=SALE)
    assert result.allocations == tuple(Allocation(i, q) for i, q in expected)
    assert result.shortage == shortage
    for a in result.allocations:  # never negative
        if a.inventory_id:
            assert a.quantity <= next(x.on_hand for x in lots if x.inventory_id == a.inventory_id)


def test_explicit_quantity_overrides_requirement_units() -> None:
    result = allocate(req(10), [lot(1, 5)], quantity=2, sale_date=SALE)
    assert result.allocations == (Allocation(1, 2),) and result.allocated == 2


def test_sort_key_orders_like_openemr() -> None:
    lots = [
        lot(5, 1, warehouse_id="x", warehouse_seq=1),
        lot(4, 1, warehouse_id="mine", warehouse_seq=9, expiration=date(2027, 1, 1)),
        lot(3, 1, warehouse_id="mine", warehouse_seq=9, expiration=date(2026, 1, 1)),
    ]
    ordered = sorted(lots, key=lambda x: lot_sort_key(x, "mine"))
    assert [x.inventory_id for x in ordered] == [3, 4, 5]


@pytest.mark.parametrize(
    ("planned", "units"),
    [("0", 0), ("-1", 0), ("1", 1), ("1.0001", 2), ("2.5", 3), ("3.0000", 3)],
)
def test_rounding_up(planned: str, units: int) -> None:
    assert req(planned).required_units == units


def test_selector_round_trip() -> None:
    assert selector_for(42) == "AUTO_PROC:42"
    assert parse_selector("AUTO_PROC:42") == 42
    assert parse_selector("AUTO_PROC:x") is None and parse_selector("") is None


HELD = [
    HeldSale(10, 1, 7, 100, 3),
    HeldSale(11, 1, 7, 101, 2, billed=True),
    HeldSale(12, 1, 7, 102, 4),
]


def test_returns_newest_sale_first_and_skip_billed() -> None:
    assert plan_returns(HELD, 5) == (ReturnStep(12, 102, 4, 0), ReturnStep(10, 100, 1, 2))


def test_returns_never_exceed_unbilled() -> None:
    assert sum(s.quantity for s in plan_returns(HELD, 9)) == 7


@pytest.mark.parametrize(
    ("required", "take", "returned"),
    [(9, 0, 0), (12, 3, 0), (4, 0, 5), (0, 0, 7)],
)
def test_plan_mapping(required: int, take: int, returned: int) -> None:
    plan = plan_mapping(1, 7, required, HELD)
    assert plan.held == 9 and plan.take == take
    assert sum(s.quantity for s in plan.returns) == returned
