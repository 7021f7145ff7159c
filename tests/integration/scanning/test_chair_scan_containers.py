"""At the chair, for a product counted in units: the scanned vial's lot is drawn from
one of its own open vials (else a new one opened from that lot), the draw row records
that vial, and the scan result names it with its units left and time to beyond use.
A lot the nurse chooses on the page (no scan) is drawn the same way, and the preview
of a visit with a named lot equals what its reconcile then writes."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from aesthetic_inventory.consumption.results import ReconcileResult
from aesthetic_inventory.consumption.service import preview_in_transaction, reconcile_visit
from aesthetic_inventory.products.domain import ProductChange
from aesthetic_inventory.products.service import set_product
from aesthetic_inventory.scanning.service import ChairScanResult, record_chair_scan
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from aesthetic_inventory.usage import service as usage_service
from clinic import Clinic

SERVICE = "aesthetic-inventory"
GTIN = "00300231145014"
GS = "\x1d"
TODAY = date.today()
SOON = TODAY + timedelta(days=30)
LATER = TODAY + timedelta(days=300)
SCAN_B = f"]d201{GTIN}17{LATER:%y%m%d}{GS}10B-2"


@pytest.fixture
def toxin(clinic: Clinic) -> dict[str, int]:
    """Botox in 100 U vials (24 h beyond use): lot A-1 expires first, lot B-2 later;
    20 U per CPT4 64612; visits 1 and 2 this morning, each billed once and reconciled
    (both drew from one vial of lot A-1, sellDrug's first lot)."""
    clinic.add_user("nurse")
    drug = clinic.add_drug("Botox")
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, package_unit, beyond_use_hours) VALUES (:d, 100, 'U', 'vial', 24)",
        {"d": drug})
    a = clinic.add_lot(drug, 300, lot_number="A-1", expiration=SOON)
    b = clinic.add_lot(drug, 300, lot_number="B-2", expiration=LATER)
    set_product(factory_of(clinic.engine), str(drug), ProductChange(gtins=(GTIN,)), confirmed=True)
    mapping = clinic.add_mapping("64612", drug, "20")
    morning = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=9)
    for pid in (1, 2, 3):
        clinic.add_visit(pid, pid, morning + timedelta(minutes=pid))
        clinic.add_line(pid, pid, "64612")
    for pid in (1, 2):
        reconcile_visit(UnitOfWork(clinic.engine), pid, pid, service_username=SERVICE)
    return {"drug": drug, "a": a, "b": b, "mapping": mapping}


def _scan(clinic: Clinic, pid: int, raw: str = SCAN_B) -> ChairScanResult:
    uow = UnitOfWork(clinic.engine)
    with uow:
        result = record_chair_scan(uow, pid, pid, raw, user="nurse", service_username=SERVICE)
        uow.commit()
    return result


def _draws(clinic: Clinic, pid: int) -> list[tuple[int, int, int]]:
    """(container, its lot, units) of a visit's draw rows."""
    return [tuple(r) for r in clinic.rows(
        "SELECT x.container_id, c.inventory_id, x.units FROM aesthetic_inventory_container_draw "
        "x JOIN aesthetic_inventory_container c ON c.id = x.container_id "
        "WHERE x.pid = :p ORDER BY x.id", {"p": pid})]


def _vials(clinic: Clinic) -> dict[int, tuple[int, int, datetime]]:
    """container -> (lot, units left, beyond use at)."""
    return {int(r[0]): (int(r[1]), int(r[2]), r[3]) for r in clinic.rows(
        "SELECT c.id, c.inventory_id, c.units - c.units_wasted - COALESCE((SELECT SUM(x.units) "
        "FROM aesthetic_inventory_container_draw x WHERE x.container_id = c.id), 0), "
        "c.beyond_use_at FROM aesthetic_inventory_container c ORDER BY c.id")}


def test_a_scanned_vial_is_the_container_drawn_and_the_result_names_it(
        clinic: Clinic, toxin: dict[str, int]) -> None:
    ((vial_a, lot, _),) = _draws(clinic, 1)
    assert lot == toxin["a"]
    result = _scan(clinic, 1)
    # no vial of lot B-2 was open: one is opened from it; lot A-1's vial gets 20 U back
    ((vial_b, lot, units),) = _draws(clinic, 1)
    assert (lot, units) == (toxin["b"], 20) and vial_b != vial_a
    vials = _vials(clinic)
    assert (vials[vial_a][1], vials[vial_b][1]) == (80, 80)
    (named,) = result.containers
    assert (named["containerId"], named["units"], named["unitsLeft"]) == (vial_b, 20, 80)
    expected = (vials[vial_b][2] - datetime.now()).total_seconds() / 3600
    assert abs(float(str(named["hoursLeft"])) - expected) < 0.2
    assert result.message.startswith(
        f"lot B-2 recorded as used for Botox: vial #{vial_b}: 20 U, 80 U left, ")
    assert result.message.endswith(" h to beyond use")
    assert result.as_dict()["containers"] == [named]
    assert (clinic.on_hand(toxin["a"]), clinic.on_hand(toxin["b"])) == (280, 280)
    assert all(v == 0 for v in clinic.ledgers().values())

    # the next visit's scan of lot B-2 takes that open vial, not a new one
    second = _scan(clinic, 2)
    assert [c["containerId"] for c in second.containers] == [vial_b]
    assert _draws(clinic, 2) == [(vial_b, toxin["b"], 20)]
    assert second.containers[0]["unitsLeft"] == 60 and len(_vials(clinic)) == 2
    # scanning again changes nothing
    again = _scan(clinic, 2)
    assert again.record.updated == 0 and _draws(clinic, 2) == [(vial_b, toxin["b"], 20)]


def test_a_lot_chosen_on_the_page_is_drawn_from_its_own_vial_too(
        clinic: Clinic, toxin: dict[str, int]) -> None:
    _scan(clinic, 1)  # opens the vial of lot B-2
    ((vial_b, _, _),) = _draws(clinic, 1)
    material = usage_service.MaterialInput(code_type="CPT4", code="64612", actual=40,
                                           reason="ADDITIONAL_USAGE",
                                           product=toxin["drug"], lot=f"#{toxin['b']}")
    uow = UnitOfWork(clinic.engine)
    with uow:
        usage_service.record_in_transaction(uow, 3, 3, [material], user="nurse",
                                            service_username=SERVICE)
        uow.commit()
    # 40 U from lot B-2: its open vial (80 U left) rather than sellDrug's lot A-1
    assert _draws(clinic, 3) == [(vial_b, toxin["b"], 40)]
    assert clinic.held(3, 3) == 40 and len(_vials(clinic)) == 2
    assert all(v == 0 for v in clinic.ledgers().values())


def _per_mapping(result: ReconcileResult) -> dict[int, tuple[object, ...]]:
    return {m.mapping_id: (m.required, m.allocated, m.shortage, m.added, m.returned,
                           tuple((x.inventory_id, x.quantity) for x in m.lots))
            for m in result.lines}


def test_the_preview_of_a_named_lot_equals_its_reconcile(
        clinic: Clinic, toxin: dict[str, int]) -> None:
    _scan(clinic, 1)  # lot B-2's vial: 80 U left; visit 2 holds 20 U of lot A-1's vial
    # the actual the page records: 60 U of lot B-2 (as the usage repository writes it)
    clinic.execute("UPDATE aesthetic_inventory_usage SET actual_quantity = 60, "
                   "actual_lot_id = :b, recorded_by = 'nurse', recorded_at = NOW() "
                   "WHERE pid = 2 AND encounter = 2", {"b": toxin["b"]})
    with UnitOfWork(clinic.engine) as uow:
        preview, _records = preview_in_transaction(
            uow.get(ConsumptionRepository), 2, 2, service_username=SERVICE)
    done = reconcile_visit(UnitOfWork(clinic.engine), 2, 2, service_username=SERVICE)
    assert _per_mapping(preview) == _per_mapping(done)
    ((vial_b, _, _),) = _draws(clinic, 1)
    # 60 U of lot B-2 from its open vial; lot A-1's 20 U went back into its vial
    assert dict(_per_mapping(done)[toxin["mapping"]][5]) == {toxin["a"]: -20, toxin["b"]: 60}
    assert _draws(clinic, 2) == [(vial_b, toxin["b"], 60)]
    assert all(v == 0 for v in clinic.ledgers().values())
