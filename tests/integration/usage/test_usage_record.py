"""Recording actuals: stock follows the actual (FEFO more, newest-first back, a named lot
moves the units), billed rows stay, identical updates write nothing, bad input writes
nothing; fee-sheet edits become actuals and are not undone; ``usage show``."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.batch import drain_change_queue, sweep_visits
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.errors import InvalidInputError
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.service import MaterialInput, record_usage
from aesthetic_inventory.usage.show import show_usage
from clinic import Clinic
from dbtools import uows
from sqlalchemy.engine import Engine

SERVICE = "aesthetic-inventory"
D = Decimal


@pytest.fixture
def visit(clinic: Clinic) -> dict[str, int]:
    """Botox mapped 1 per CPT4 15828; lots A (expires first), B; visit 1/1 billed once."""
    drug = clinic.add_drug("Botox", allow_combining=1)
    a = clinic.add_lot(drug, 5, lot_number="A-1", expiration=date(2026, 6, 1))
    b = clinic.add_lot(drug, 5, lot_number="B-2")
    other = clinic.add_drug("Filler")
    c = clinic.add_lot(other, 5, lot_number="C-3")
    dead = clinic.add_lot(drug, 5, lot_number="D-4", destroyed=True)
    mapping = clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 1)
    clinic.add_line(1, 1, "15828", 1)
    for nurse in ("nurse1", "n"):  # who records: active OpenEMR users
        clinic.add_user(nurse)
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    return {"drug": drug, "a": a, "b": b, "c": c, "dead": dead, "mapping": mapping}


def _record(engine: Engine, actual: object, reason: str | None = None, **kw: object):  # type: ignore[no-untyped-def]
    material = MaterialInput("CPT4", "15828", actual, reason=reason, **kw)  # type: ignore[arg-type]
    return record_usage(uows(engine), 1, 1, [material], user="nurse1", service_username=SERVICE)


def _state(clinic: Clinic) -> tuple:
    return (
        clinic.rows("SELECT mapping_id, actual_quantity, variance_reason, actual_lot_id, "
                    "required_units, allocated_units FROM aesthetic_inventory_usage"),
        clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_usage_history"),
        clinic.auto_rows(1, 1),
        sorted(clinic.ledgers().items()),
        clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory ORDER BY inventory_id"),
    )


def test_more_than_planned_takes_from_the_fefo_lot(clinic: Clinic, visit: dict) -> None:
    result = _record(clinic.engine, "2", "ADDITIONAL_USAGE", notes="hard to numb")
    assert clinic.on_hand(visit["a"]) == 3 and clinic.on_hand(visit["b"]) == 5
    assert result.updated == 1
    [adj] = result.adjustments
    assert adj.adjustment == 1 and adj.lots == ((visit["a"], "A-1", 1),)
    assert clinic.rows("SELECT actual_quantity, variance_quantity, variance_reason, "
                       "actual_notes, recorded_by, required_units, allocated_units "
                       "FROM aesthetic_inventory_usage") == [
        (D("2.0000"), D("1.0000"), "ADDITIONAL_USAGE", "hard to numb", "nurse1", 2, 2)]
    assert set(clinic.ledgers().values()) == {0}


def test_identical_update_writes_nothing(clinic: Clinic, visit: dict) -> None:
    _record(clinic.engine, "2", "ADDITIONAL_USAGE")
    before = _state(clinic)
    again = _record(clinic.engine, "2.0", "additional_usage")
    assert again.writes == 0 and again.updated == 0
    assert _state(clinic) == before


def test_actual_zero_gives_the_vial_back_and_history_lists_every_change(
    clinic: Clinic, visit: dict
) -> None:
    _record(clinic.engine, "2", "ADDITIONAL_USAGE")
    result = _record(clinic.engine, "0", "LESS_THAN_PLANNED")
    assert clinic.held(1, 1) == 0 and clinic.on_hand(visit["a"]) == 5
    assert result.adjustments[0].adjustment == -2
    assert clinic.rows("SELECT old_actual, new_actual, old_reason, new_reason, changed_by "
                       "FROM aesthetic_inventory_usage_history ORDER BY id") == [
        (None, D("2.0000"), None, "ADDITIONAL_USAGE", "nurse1"),
        (D("2.0000"), D("0.0000"), "ADDITIONAL_USAGE", "LESS_THAN_PLANNED", "nurse1")]


def test_fraction_is_rounded_up_and_kept_exactly(clinic: Clinic, visit: dict) -> None:
    _record(clinic.engine, "0.64", "LESS_THAN_PLANNED")
    assert clinic.held(1, 1) == 1
    assert clinic.scalar("SELECT actual_quantity FROM aesthetic_inventory_usage") == D("0.64")


def test_billing_changes_the_plan_not_the_actual(clinic: Clinic, visit: dict) -> None:
    _record(clinic.engine, "2", "ADDITIONAL_USAGE")
    clinic.add_line(1, 1, "15828", 3)  # plan now 4
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    assert clinic.held(1, 1) == 2
    assert clinic.rows("SELECT planned_quantity, actual_quantity, variance_quantity "
                       "FROM aesthetic_inventory_usage") == [(D("4"), D("2"), D("-2"))]


def test_named_lot_moves_the_units_to_that_lot(clinic: Clinic, visit: dict) -> None:
    _record(clinic.engine, "1", lot="B-2")
    rows = clinic.auto_rows(1, 1)
    assert [(r[1], r[2]) for r in rows] == [(visit["b"], 1)]
    assert clinic.on_hand(visit["a"]) == 5 and clinic.on_hand(visit["b"]) == 4
    assert set(clinic.ledgers().values()) == {0}


def test_billed_rows_stay_frozen(clinic: Clinic, visit: dict) -> None:
    clinic.execute("UPDATE drug_sales SET billed = 1 WHERE selector LIKE 'AUTO_PROC:%'")
    _record(clinic.engine, "0", "LESS_THAN_PLANNED")
    assert clinic.held(1, 1) == 1  # the billed row is not given back
    assert clinic.scalar("SELECT shortage_units FROM aesthetic_inventory_usage") == 0


@pytest.mark.parametrize("kwargs, message", [
    ({"actual": "-1", "reason": "WASTAGE"}, "0 or more"),
    ({"actual": "2"}, "a reason is required"),
    ({"actual": "2", "reason": "NOPE"}, "unknown reason"),
    ({"actual": "1", "lot": "C-3"}, "another product"),
    ({"actual": "1", "lot": "D-4"}, "destroyed"),
    ({"actual": "9", "reason": "WASTAGE", "lot": "B-2"}, "short"),
    ({"actual": "1", "lot": "NOPE"}, "no lot"),
])
def test_bad_input_changes_nothing(clinic: Clinic, visit: dict, kwargs: dict, message: str
                                   ) -> None:
    before = _state(clinic)
    with pytest.raises(InvalidInputError, match=message):
        _record(clinic.engine, **kwargs)
    assert _state(clinic) == before


def test_unknown_visit_or_code_changes_nothing(clinic: Clinic, visit: dict) -> None:
    before = _state(clinic)
    with pytest.raises(InvalidInputError, match="no visit"):
        record_usage(uows(clinic.engine), 1, 99, [MaterialInput("CPT4", "15828", "1")], user="n",
                     service_username=SERVICE)
    with pytest.raises(InvalidInputError, match="no product is mapped"):
        record_usage(uows(clinic.engine), 1, 1, [MaterialInput("CPT4", "99999", "1")], user="n",
                     service_username=SERVICE)
    clinic.add_mapping("11950", visit["drug"])
    with pytest.raises(InvalidInputError, match="not billed on visit"):
        record_usage(uows(clinic.engine), 1, 1, [MaterialInput("CPT4", "11950", "1")], user="n",
                     service_username=SERVICE)
    assert _state(clinic) == before


def test_several_materials_all_or_nothing(clinic: Clinic, visit: dict) -> None:
    filler = clinic.add_drug("Filler 2")
    clinic.add_lot(filler, 4, lot_number="F-1")
    clinic.add_mapping("11950", filler)
    clinic.add_line(1, 1, "11950", 1)
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    before = _state(clinic)
    good = MaterialInput("CPT4", "15828", "2", reason="WASTAGE")
    bad = MaterialInput("CPT4", "11950", "-1")
    with pytest.raises(InvalidInputError):
        record_usage(uows(clinic.engine), 1, 1, [good, bad], user="n", service_username=SERVICE)
    assert _state(clinic) == before
    result = record_usage(uows(clinic.engine), 1, 1, [good, MaterialInput("CPT4", "11950", "1")],
                          user="n", service_username=SERVICE)
    assert result.updated == 2 and clinic.held(1, 1) == 3


def test_fee_sheet_quantity_edit_becomes_the_actual(clinic: Clinic, visit: dict) -> None:
    [sale] = clinic.auto_sale_ids(1, 1)
    clinic.fee_sheet_set_quantity(sale, 3)
    drain_change_queue(uows(clinic.engine), service_username=SERVICE)
    assert clinic.held(1, 1) == 3  # not undone
    assert clinic.rows("SELECT actual_quantity, variance_reason, actual_notes, actual_source "
                       "FROM aesthetic_inventory_usage") == [
        (D("3"), "OTHER", "edited on the fee sheet", "fee_sheet")]
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_fee_sheet_edits") == 0
    assert set(clinic.ledgers().values()) == {0}
    # and a later save of the fee sheet does not undo it either
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    assert clinic.held(1, 1) == 3


def test_record_after_an_unabsorbed_fee_sheet_edit_stands(clinic: Clinic, visit: dict
                                                          ) -> None:
    [sale] = clinic.auto_sale_ids(1, 1)
    clinic.fee_sheet_set_quantity(sale, 3)  # queued, the worker has not run yet
    _record(clinic.engine, "2", "WASTAGE")
    assert clinic.held(1, 1) == 2
    assert clinic.rows("SELECT new_actual, source FROM aesthetic_inventory_usage_history "
                       "ORDER BY id") == [(D("3"), "fee_sheet"), (D("2"), "usage")]
    drain_change_queue(uows(clinic.engine), service_username=SERVICE)  # nothing left to absorb
    assert clinic.held(1, 1) == 2


def test_sweep_absorbs_an_edit_whose_queue_row_was_lost(clinic: Clinic, visit: dict) -> None:

    [sale] = clinic.auto_sale_ids(1, 1)
    clinic.fee_sheet_set_quantity(sale, 2)
    clinic.execute("DELETE FROM aesthetic_inventory_change_queue")
    sweep_visits(uows(clinic.engine), since=date(2030, 1, 1), service_username=SERVICE)
    assert clinic.scalar("SELECT actual_quantity FROM aesthetic_inventory_usage") == 2
    assert clinic.held(1, 1) == 2


def test_non_ascii_lot_number(clinic: Clinic, visit: dict) -> None:
    lot = clinic.add_lot(visit["drug"], 3, lot_number="BTX-Ünïcødé-7")
    _record(clinic.engine, "1", lot="BTX-Ünïcødé-7")
    assert [(r[1], r[2]) for r in clinic.auto_rows(1, 1)] == [(lot, 1)]


def test_fee_sheet_delete_with_code_still_billed_is_actual_zero(clinic: Clinic, visit: dict
                                                                ) -> None:
    [sale] = clinic.auto_sale_ids(1, 1)
    clinic.fee_sheet_delete(sale)
    drain_change_queue(uows(clinic.engine), service_username=SERVICE)
    assert clinic.held(1, 1) == 0
    assert clinic.scalar("SELECT actual_quantity FROM aesthetic_inventory_usage") == 0
    assert clinic.on_hand(visit["a"]) == 5


def test_show_hides_costs_unless_allowed(clinic: Clinic, visit: dict) -> None:
    clinic.execute("UPDATE drugs SET unit_cost = 420, aesthetic_category = 'Neurotoxin', "
                   "reorder_point = 20 WHERE drug_id = :d", {"d": visit["drug"]})
    _record(clinic.engine, "2", "ADDITIONAL_USAGE", notes="n1")
    hidden = show_usage(uows(clinic.engine), 1, 1, can_see_costs=False).as_dict()
    shown = show_usage(uows(clinic.engine), 1, 1, can_see_costs=True).as_dict()
    [m] = shown["materials"]  # type: ignore[misc]
    assert (m["plannedQuantity"], m["actualQuantity"], m["varianceQuantity"],
            m["varianceReason"]) == ("1", "2", "1", "ADDITIONAL_USAGE")
    assert (m["unitPrice"], m["totalPlannedCost"], m["totalActualCost"]) == (
        "420.00", "420.00", "840.00")
    # usable stock as `stock` counts it: lot A (3 left) expired on 2026-06-01, so only
    # lot B's 5 units count (issue 17 F: the page said 8 where `stock` said 5)
    assert clinic.on_hand(visit["a"]) == 3 and clinic.on_hand(visit["b"]) == 5
    assert m["stockStatus"] == "LOW" and m["currentStock"] == 5
    assert shown["costVariance"] == "420.00"
    [h] = hidden["materials"]  # type: ignore[misc]
    assert (h["unitPrice"], h["totalPlannedCost"], h["totalActualCost"]) == (None, None, None)
    assert hidden["totalPlannedCost"] is None and hidden["costVariance"] is None
    assert [x["newActual"] for x in hidden["history"]] == ["2"]  # type: ignore[index]
