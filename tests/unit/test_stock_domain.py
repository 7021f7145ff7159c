"""Pure stock rules: receipt validation, CSV parsing, average cost, count differences,
the reorder formula and OpenEMR's Inventory Activity classification."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.stock import domain
from aesthetic_inventory.stock.domain import (
    CountLine,
    FileValidationError,
    ProductCost,
    ReorderInput,
)

TODAY = date(2026, 5, 1)


def _validate(**kw):  # type: ignore[no-untyped-def]
    args = dict(product="Botox", lot_number="B1", expires="2027-01-01", quantity="10",
                unit_cost="12.5", today=TODAY)
    args.update(kw)
    return domain.validate_receipt(**args)


def test_valid_receipt_line() -> None:
    line, errors = _validate()
    assert errors == [] and line is not None
    assert (line.quantity, line.unit_cost, line.total_cost) == (10, Decimal("12.5"),
                                                                Decimal("125.00"))


@pytest.mark.parametrize(("kw", "column", "needle"), [
    ({"expires": "2026-05-01"}, "expires", "not after the receipt date"),
    ({"expires": "2025-01-01"}, "expires", "not after"),
    ({"expires": "01/02/2027"}, "expires", "YYYY-MM-DD"),
    ({"quantity": "0"}, "quantity", "positive"),
    ({"quantity": "-3"}, "quantity", "positive"),
    ({"quantity": "2.5"}, "quantity", "whole number"),
    ({"unit_cost": "-1"}, "unit_cost", "negative"),
    ({"unit_cost": "abc"}, "unit_cost", "number"),
    ({"unit_cost": "NaN"}, "unit_cost", "number"),
    ({"product": " "}, "product", "empty"),
    ({"lot_number": "L" * 21}, "lot", "longer than 20"),
    ({"quantity": None, "packages": "2"}, "packages", "go together"),
    ({"quantity": "9", "packages": "2", "units_per_package": "5"}, "quantity", "differs"),
])
def test_receipt_refusals(kw: dict, column: str, needle: str) -> None:  # type: ignore[type-arg]
    line, errors = _validate(**kw)
    assert line is None
    assert errors[0].column == column and needle in errors[0].message


def test_packages_give_the_quantity() -> None:
    line, errors = _validate(quantity="", packages="3", units_per_package="4")
    assert not errors and line is not None
    assert (line.quantity, line.units_per_package) == (12, 4)


def test_delivery_csv_names_every_bad_line_and_column() -> None:
    text = ("product,lot,expires,quantity,unit_cost\n"
            "Botox,B1,2027-01-01,10,20\n"
            "Filler,F1,2020-01-01,5,3\n"
            "\n"
            "Peel,P1,2027-01-01,-1,3\n")
    with pytest.raises(FileValidationError) as err:
        domain.parse_delivery(text, today=TODAY, source="d.csv")
    assert str(err.value).startswith("d.csv: line 3, column expires:")
    assert "(and 1 more)" in str(err.value)
    assert [(e.line, e.column) for e in err.value.errors] == [(3, "expires"), (5, "quantity")]


def test_delivery_csv_header_problems() -> None:
    with pytest.raises(FileValidationError, match="line 1, column colour: unknown column"):
        domain.parse_delivery("product,lot,expires,unit_cost,colour\n", today=TODAY)
    with pytest.raises(FileValidationError, match="column expires: missing column"):
        domain.parse_delivery("product,lot,quantity,unit_cost\nA,B,1,1\n", today=TODAY)
    with pytest.raises(FileValidationError, match="no data lines"):
        domain.parse_delivery("product,lot,expires,quantity,unit_cost\n", today=TODAY)
    lines = domain.parse_delivery("\ufeffProduct,LOT,expires,quantity,unit_cost\n"
                                  "Botox,B1,2027-01-01,10,20\n", today=TODAY)
    assert lines[0].line == 2 and lines[0].product == "Botox"


def test_count_csv() -> None:
    lines = domain.parse_count("lot_id,counted,notes\n3,5,ok\n1,0,\n")
    assert lines == [CountLine(3, 5, "ok", 2), CountLine(1, 0, "", 3)]
    with pytest.raises(FileValidationError, match="line 3, column lot_id: lot 3 already"):
        domain.parse_count("lot_id,counted\n3,5\n3,4\n")
    with pytest.raises(FileValidationError, match="column counted: must not be negative"):
        domain.parse_count("lot_id,counted\n3,-5\n")


def test_weighted_average_cost_seed_formula() -> None:
    # (100 x 10 + 50 x 16) / 150 = 12
    assert domain.weighted_average_cost(100, Decimal(10), 50, Decimal(16)) == Decimal("12.0000")
    assert domain.weighted_average_cost(0, Decimal(10), 5, Decimal("7.5")) == Decimal("7.5000")
    # negative stock holds no value
    assert domain.weighted_average_cost(-4, Decimal(10), 5, Decimal(3)) == Decimal("3.0000")
    cost = domain.apply_receipts(10, ProductCost(Decimal(20), Decimal(20)),
                                 [(30, Decimal(24)), (40, Decimal(10))])
    assert cost == ProductCost(Decimal("16.5000"), Decimal("10.0000"))  # (920+400)/80


def test_count_differences_and_summary() -> None:
    lots = {1: (7, 10, Decimal("2.50")), 2: (7, 4, Decimal(1)), 3: (8, 6, Decimal(9))}
    diffs = domain.count_differences(
        [CountLine(3, 6), CountLine(1, 8), CountLine(2, 5)], lots)
    assert [(d.inventory_id, d.difference, d.value) for d in diffs] == [
        (1, -2, Decimal("-5.00")), (2, 1, Decimal("1.00")), (3, 0, Decimal("0.00"))]
    s = domain.summarize_count(diffs)
    assert (s.lots, s.adjusted, s.units_over, s.units_short, s.net_units) == (3, 2, 1, 2, -1)
    assert (s.value_over, s.value_short, s.net_value) == (
        Decimal("1.00"), Decimal("5.00"), Decimal("-4.00"))


def _reorder(**kw) -> domain.ReorderSuggestion:  # type: ignore[no-untyped-def]
    args = dict(drug_id=1, name="Botox", supplier="A", used=90, window_days=90,
                lead_time_days=7, on_hand=10, on_order=0, max_level=50, min_level=None,
                units_per_package=1, current_reorder_point=0)
    args.update(kw)
    return domain.reorder_suggestion(ReorderInput(**args))


def test_reorder_point_seed_formula() -> None:
    s = _reorder()  # 1/day x 7 + ceil(10 % of 30) = 10
    assert (s.reorder_point, s.safety_stock, s.order_now, s.order_quantity) == (10, 3, True, 40)
    assert _reorder(min_level=5).reorder_point == 12  # min level is the safety stock
    assert not _reorder(on_hand=11).order_now
    assert not _reorder(on_hand=5, on_order=6).order_now  # on order counts
    # whole packages, never above max_level, but at least one
    s = _reorder(units_per_package=6)
    assert (s.packages, s.order_quantity) == (6, 36)
    assert _reorder(units_per_package=100).packages == 1
    # no max level: the point plus a month's usage
    assert _reorder(max_level=0).order_quantity == 30  # 10 + 30 - 10
    # no usage, no min level: nothing to order
    assert not _reorder(used=0, on_hand=0).order_now
    assert _reorder(used=0, on_hand=0, min_level=2).order_now


def test_inventory_activity_classification() -> None:
    def cls(**kw):  # type: ignore[no-untyped-def]
        args = dict(lot_id=5, inventory_id=5, xfer_inventory_id=0, pid=0, distributor_id=0,
                    fee=Decimal(0), quantity=-3)
        args.update(kw)
        return domain.inventory_activity_class(**args)

    assert cls(fee=Decimal("-30")) == ("purchases", 3)
    assert cls() == ("adjustments", 3)
    assert cls(pid=9, quantity=2) == ("sales", -2)
    assert cls(distributor_id=4, quantity=2) == ("distributions", -2)
    # a transfer row (on lot 5, from lot 4) seen from the destination and the source
    assert cls(xfer_inventory_id=4) == ("transfers", 3)
    assert cls(lot_id=4, xfer_inventory_id=4) == ("transfers", -3)


def test_stock_triggers_fail_safe_on_openemr_tables_only() -> None:
    from aesthetic_inventory.stock.triggers import LEDGER_TABLE, SEAL_TABLE, TRIGGERS

    for spec in TRIGGERS:
        sql = spec.create_sql()
        if spec.table == "drug_sales":
            # an OpenEMR table: a failing body must never fail OpenEMR's write
            assert spec.fail_safe and "CONTINUE HANDLER FOR SQLEXCEPTION" in sql
            if spec.event == "AFTER INSERT":
                # the reconcile ledgers its own inserts (issue 21): no AUTO_PROC branch and
                # no per-row read; only OpenEMR's own lot-screen rows (issue 17 F)
                assert "AUTO_PROC:%" not in sql and "SELECT" not in spec.body
                assert "@aesthetic_inventory_writer IS NULL" in spec.body
                assert spec.requires == (LEDGER_TABLE,)
            else:
                assert "AUTO_PROC:%" in sql and spec.requires == (LEDGER_TABLE,)
        else:
            # the module's own ledger: refusing is the point
            assert spec.table in (LEDGER_TABLE, SEAL_TABLE) and spec.event.startswith("BEFORE ")
            assert not spec.fail_safe and "SIGNAL SQLSTATE '45000'" in sql
            assert "HANDLER" not in sql
        assert len(spec.name) <= 64 and sql.endswith(spec.statement)
