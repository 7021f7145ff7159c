"""Pure rules of planned versus actual usage."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.domain import HeldSale, Lot
from aesthetic_inventory.errors import InvalidInputError
from aesthetic_inventory.usage.domain import (
    REASONS,
    Actual,
    FeeSheetEdit,
    allocate_from_lot,
    check_named_lot,
    check_notes,
    check_reason,
    cost,
    fee_sheet_actuals,
    parse_actual,
    plan_mapping_in_lot,
    stock_status,
    target_units,
    variance,
)

D = Decimal
NOW = datetime(2026, 3, 10, 12, 0)


def test_reasons_are_seed_003s() -> None:
    assert REASONS == ("ADDITIONAL_USAGE", "LESS_THAN_PLANNED", "WASTAGE",
                       "PROCEDURE_COMPLEXITY", "OTHER")


@pytest.mark.parametrize("raw, expected", [("2", D("2")), ("0", D("0")), (" 0.64 ", D("0.64")),
                                           ("1.2500", D("1.25"))])
def test_parse_actual_accepts_non_negative_decimals(raw: str, expected: Decimal) -> None:
    assert parse_actual(raw) == expected


@pytest.mark.parametrize("raw, message", [("-1", "0 or more"), ("abc", "must be a number"),
                                          ("NaN", "must be a number"), ("inf", "must be a number"),
                                          ("0.00001", "4 decimal places"),
                                          ("1e12", "too large")])
def test_parse_actual_refuses_bad_input(raw: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_actual(raw)


def test_variance_is_actual_minus_planned_and_none_without_actual() -> None:
    assert variance(D("1"), D("2")) == D("1")
    assert variance(D("3"), D("2")) == D("-1")
    assert variance(D("1"), None) is None


def test_reason_required_only_when_variance_is_not_zero() -> None:
    assert check_reason(D("1"), D("1"), None) is None
    assert check_reason(D("1"), D("2"), "additional_usage") == "ADDITIONAL_USAGE"
    assert check_reason(D("1"), D("1"), "WASTAGE") == "WASTAGE"  # kept even without variance
    with pytest.raises(InvalidInputError, match="a reason is required"):
        check_reason(D("1"), D("0"), None)
    with pytest.raises(InvalidInputError, match="a reason is required"):
        check_reason(D("1"), D("0.5"), "  ")
    with pytest.raises(InvalidInputError, match="unknown reason"):
        check_reason(D("1"), D("2"), "BECAUSE")


def test_notes_are_stripped_and_bounded() -> None:
    assert check_notes("  vial opened for the previous patient ") == (
        "vial opened for the previous patient")
    assert check_notes("   ") is None and check_notes(None) is None
    with pytest.raises(InvalidInputError, match="1000"):
        check_notes("x" * 1001)


def test_target_is_the_actual_rounded_up_else_the_plan() -> None:
    assert target_units(D("1"), None) == 1
    assert target_units(D("1.5"), None) == 2
    assert target_units(D("1"), D("0.64")) == 1  # 64 units of a 100U vial: one vial
    assert target_units(D("1"), D("2")) == 2
    assert target_units(D("3"), D("0")) == 0  # an actual of 0 wins over the plan


def test_identical_actual_is_the_same_whoever_records_it() -> None:
    a = Actual(D("2"), "WASTAGE", "dropped", 5, recorded_by="nurse", recorded_at=NOW)
    b = Actual(D("2.0000"), "WASTAGE", "dropped", 5, recorded_by="admin")
    assert a.same_as(b)
    assert not a.same_as(None)
    assert not a.same_as(Actual(D("2"), "WASTAGE", "dropped", None))
    assert not a.same_as(Actual(D("2"), "OTHER", "dropped", 5))


def _lot(inv: int = 7, drug: int = 1, on_hand: int = 3, destroyed: bool = False) -> Lot:
    return Lot(inv, drug, on_hand, lot_number=f"L{inv}", destroyed=destroyed)


def test_named_lot_refused_when_unknown_other_product_destroyed_or_short() -> None:
    check_named_lot(_lot(on_hand=1), drug_id=1, units=2, held_in_lot=1, label="x")  # ok
    with pytest.raises(InvalidInputError, match="no such lot"):
        check_named_lot(None, drug_id=1, units=1, held_in_lot=0, label="x")
    with pytest.raises(InvalidInputError, match="another product"):
        check_named_lot(_lot(drug=2), drug_id=1, units=1, held_in_lot=0, label="x")
    with pytest.raises(InvalidInputError, match="destroyed"):
        check_named_lot(_lot(destroyed=True), drug_id=1, units=1, held_in_lot=0, label="x")
    with pytest.raises(InvalidInputError, match="short: it can cover 3 of 4"):
        check_named_lot(_lot(on_hand=3), drug_id=1, units=4, held_in_lot=0, label="x")
    with pytest.raises(InvalidInputError, match="short"):
        check_named_lot(_lot(on_hand=-2), drug_id=1, units=1, held_in_lot=0, label="x")


def _sale(sale_id: int, inv: int, qty: int, billed: bool = False) -> HeldSale:
    return HeldSale(sale_id, 9, 1, inv, qty, billed)


def test_named_lot_moves_units_from_other_lots_into_it() -> None:
    plan = plan_mapping_in_lot(9, 1, 1, [_sale(10, 3, 1)], lot_id=7)
    assert plan.take == 1
    assert [(s.sale_id, s.inventory_id, s.quantity, s.remaining) for s in plan.returns] == [
        (10, 3, 1, 0)]


def test_named_lot_keeps_what_it_holds_and_returns_surplus_newest_first() -> None:
    plan = plan_mapping_in_lot(9, 1, 1, [_sale(10, 7, 1), _sale(11, 7, 2)], lot_id=7)
    assert plan.take == 0
    assert [(s.sale_id, s.quantity, s.remaining) for s in plan.returns] == [(11, 2, 0)]


def test_named_lot_leaves_billed_rows_in_other_lots_frozen() -> None:
    plan = plan_mapping_in_lot(9, 1, 2, [_sale(10, 3, 1, billed=True)], lot_id=7)
    assert plan.returns == () and plan.take == 1


def test_allocate_from_lot_takes_only_from_that_lot() -> None:
    result = allocate_from_lot(_lot(on_hand=2), 1, 3)
    assert [(a.inventory_id, a.quantity) for a in result.allocations] == [(7, 2)]
    assert result.shortage == 1
    assert allocate_from_lot(_lot(drug=2), 1, 1).shortage == 1
    assert allocate_from_lot(_lot(destroyed=True), 1, 1).allocations == ()
    assert allocate_from_lot(None, 1, 0).shortage == 0


def test_fee_sheet_edit_becomes_the_held_units_with_reason_other() -> None:
    held = [_sale(10, 3, 2), HeldSale(12, 4, 2, 5, 1, False)]
    edits = [FeeSheetEdit(1, 9, 10, "update", 1, 2)]
    actuals = fee_sheet_actuals(edits, held, {9: D("1")}, NOW)
    assert set(actuals) == {9}
    a = actuals[9]
    assert (a.quantity, a.reason, a.source) == (D("2"), "OTHER", "fee_sheet")
    assert a.notes == "edited on the fee sheet"


def test_deleted_fee_sheet_line_is_actual_zero_and_names_the_user_when_known() -> None:
    edits = [FeeSheetEdit(1, 9, 10, "delete", 1, None),
             FeeSheetEdit(2, 9, 11, "insert", None, 1, "biller1")]
    a = fee_sheet_actuals(edits[:1], [], {9: D("1")}, NOW)[9]
    assert a.quantity == 0 and a.reason == "OTHER"
    b = fee_sheet_actuals(edits, [_sale(11, 8, 1)], {9: D("1")}, NOW)[9]
    assert b.quantity == 1 and b.reason is None  # moved to another warehouse, same units
    assert b.notes == "edited on the fee sheet by biller1" and b.recorded_by == "biller1"


def test_stock_status_follows_seed_003() -> None:
    assert stock_status(0, 5) == "OUT_OF_STOCK"
    assert stock_status(-1, 0) == "OUT_OF_STOCK"
    assert stock_status(5, 5) == "LOW"
    assert stock_status(6, 5) == "OK"
    assert stock_status(1, 0) == "OK"


def test_costs_only_when_allowed() -> None:
    assert cost(D("2"), D("420.00"), True) == D("840.00")
    assert cost(D("0.64"), D("420"), True) == D("268.80")
    assert cost(D("2"), D("420.00"), False) is None
    assert cost(None, D("1"), True) is None
