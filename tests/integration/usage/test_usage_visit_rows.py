"""Issue 21: a visit's mappings in one read (``UsageRepository.visit_rows``): plan,
record, product, the actual's lot and pending fee-sheet edits; ``usage show`` in two or
two statements; a web ``usageId`` found among the rows that read returned."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.errors import InvalidInputError, NotFoundError, UnknownVisitError
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.repository import UsageRepository
from aesthetic_inventory.usage.service import MaterialInput, record_usage
from aesthetic_inventory.usage.show import show_usage
from clinic import Clinic
from dbtools import count_statements, uows

SERVICE = "aesthetic-inventory"


@pytest.fixture
def visit(clinic: Clinic) -> dict[str, int]:
    """Botox on CPT4 15828 and Filler on 11950, both billed on visit 1/1 and reconciled."""
    botox = clinic.add_drug("Botox", allow_combining=1)
    clinic.add_lot(botox, 5, lot_number="A-1")
    filler = clinic.add_drug("Filler")
    clinic.add_lot(filler, 5, lot_number="F-1")
    m_botox = clinic.add_mapping("15828", botox)
    m_filler = clinic.add_mapping("11950", filler)
    clinic.add_visit(1, 1)
    clinic.add_line(1, 1, "15828", 2)
    clinic.add_line(1, 1, "11950", 1)
    clinic.add_user("nurse1")
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    return {"botox": botox, "filler": filler, "m_botox": m_botox, "m_filler": m_filler}


def _rows(clinic: Clinic, pid: int = 1, encounter: int = 1, *,  # type: ignore[no-untyped-def]
          with_held: bool = False):
    with UnitOfWork(clinic.engine) as uow:
        return uow.get(UsageRepository).visit_rows(pid, encounter, date.today(),
                                                   with_held=with_held)


def test_unknown_visit_is_none_and_an_empty_visit_has_no_mappings(clinic: Clinic,
                                                                  visit: dict) -> None:
    assert _rows(clinic, 1, 99) is None
    with pytest.raises(UnknownVisitError):
        show_usage(uows(clinic.engine), 1, 99, can_see_costs=True)
    clinic.add_visit(1, 2)
    empty = _rows(clinic, 1, 2)
    assert empty is not None and empty.mappings == () and not empty.pending_edits


def test_one_read_holds_plan_record_product_and_pending_edits(clinic: Clinic,
                                                              visit: dict) -> None:
    rows = _rows(clinic)
    assert rows is not None and not rows.pending_edits
    by_id = {m.mapping_id: m for m in rows.mappings}
    assert sorted(by_id) == sorted([visit["m_botox"], visit["m_filler"]])
    botox = by_id[visit["m_botox"]]
    assert botox.plan is not None and botox.plan[1] == Decimal(2)
    assert botox.plan[0].product_name == "Botox"
    assert botox.record is not None and botox.record.allocated_units == 2
    assert botox.product is not None and botox.product.current_stock == 3
    assert botox.held == ()  # asked for only with_held
    held = _rows(clinic, with_held=True).mapping(visit["m_botox"]).held  # type: ignore[union-attr]
    assert [(h.mapping_id, h.quantity) for h in held] == [(visit["m_botox"], 2)]
    with UnitOfWork(clinic.engine) as uow:
        assert list(held) == [h for h in uow.get(UsageRepository).held_rows(1, 1)
                              if h.mapping_id == visit["m_botox"]]
    # a nurse's fee-sheet edit of the held row waits to be absorbed
    sale = clinic.auto_sale_ids(1, 1)[0]
    clinic.fee_sheet_set_quantity(sale, 1)
    assert _rows(clinic).pending_edits  # type: ignore[union-attr]


def test_a_recorded_mapping_stays_when_its_billing_line_goes(clinic: Clinic,
                                                            visit: dict) -> None:
    record_usage(uows(clinic.engine), 1, 1,
                 [MaterialInput("", "", "1", mapping_id=visit["m_filler"])],
                 user="nurse1", service_username=SERVICE)
    clinic.execute("UPDATE billing SET activity = 0 WHERE code = '11950'")
    rows = _rows(clinic)
    assert rows is not None
    filler = rows.mapping(visit["m_filler"])
    assert filler is not None and filler.plan is None and filler.still_mapped
    assert filler.ref.product_name == "Filler" and filler.ref.code == "11950"
    view = show_usage(uows(clinic.engine), 1, 1, can_see_costs=True).as_dict()
    shown = {m["mappingId"]: m for m in view["materials"]}  # type: ignore[union-attr, index]
    assert shown[visit["m_filler"]]["actualQuantity"] == "1"
    assert shown[visit["m_filler"]]["plannedQuantity"] == "0"
    # the mapping itself deleted: the recorded actual shows, a new one is refused
    clinic.execute("DELETE FROM procedure_products WHERE id = :m", {"m": visit["m_filler"]})
    assert not _rows(clinic).mapping(visit["m_filler"]).still_mapped  # type: ignore[union-attr]
    before = clinic.rows("SELECT * FROM aesthetic_inventory_usage ORDER BY id")
    with pytest.raises(InvalidInputError, match="no product is mapped to code CPT4:11950"):
        record_usage(uows(clinic.engine), 1, 1,
                     [MaterialInput("", "", "2", mapping_id=visit["m_filler"],
                                    reason="OTHER")],
                     user="nurse1", service_username=SERVICE)
    assert clinic.rows("SELECT * FROM aesthetic_inventory_usage ORDER BY id") == before


def test_an_unknown_usage_id_is_not_found_and_changes_nothing(clinic: Clinic,
                                                             visit: dict) -> None:
    before = clinic.rows("SELECT * FROM aesthetic_inventory_usage ORDER BY id")
    with pytest.raises(NotFoundError, match="Material usage not found: 999"):
        record_usage(uows(clinic.engine), 1, 1, [MaterialInput("", "", "1", mapping_id=999)],
                     user="nurse1", service_username=SERVICE)
    assert clinic.rows("SELECT * FROM aesthetic_inventory_usage ORDER BY id") == before


def test_show_costs_one_statement_without_history_two_with(clinic: Clinic,
                                                             visit: dict) -> None:
    with count_statements(clinic.engine) as plain:
        view = show_usage(uows(clinic.engine), 1, 1, can_see_costs=True, with_history=False)
    with count_statements(clinic.engine) as full:
        with_history = show_usage(uows(clinic.engine), 1, 1, can_see_costs=True)
    assert len(view.materials) == 2 and view.materials == with_history.materials
    selects = [s for s in plain.statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, plain.statements
    assert len([s for s in full.statements
                if s.lstrip().upper().startswith("SELECT")]) == 2, full.statements
