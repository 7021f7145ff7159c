"""At the chair: a scanned vial's lot becomes the lot actually used for the visit's
material of that product (through the usage service, so the stock follows), with each
format a scanner sends; bad scans are refused and write nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.errors import InvalidInputError, UnknownVisitError
from aesthetic_inventory.products.domain import ProductChange
from aesthetic_inventory.products.service import set_product
from aesthetic_inventory.scanning.service import record_chair_scan
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from clinic import Clinic

SERVICE = "aesthetic-inventory"
GTIN = "00300231145014"
FILLER_GTIN = "04006381333931"
GS = "\x1d"
SOON = date.today() + timedelta(days=30)
LATER = date.today() + timedelta(days=300)


def _yymmdd(day: date) -> str:
    return day.strftime("%y%m%d")


@pytest.fixture
def visit(clinic: Clinic) -> dict[str, int]:
    """Botox 1 per CPT4 64612, lots A (expires first) and B; Filler with lot F; visit
    1/1 billed once and reconciled (FEFO took lot A). The nurse is an OpenEMR user."""
    clinic.add_user("nurse")
    drug = clinic.add_drug("Botox")
    a = clinic.add_lot(drug, 5, lot_number="A-1", expiration=SOON)
    b = clinic.add_lot(drug, 5, lot_number="B-2", expiration=LATER)
    filler = clinic.add_drug("Filler")
    f = clinic.add_lot(filler, 5, lot_number="F-1", expiration=LATER)
    set_product(factory_of(clinic.engine), str(drug), ProductChange(gtins=(GTIN,)), confirmed=True)
    set_product(factory_of(clinic.engine), str(filler), ProductChange(gtins=(FILLER_GTIN,)))
    mapping = clinic.add_mapping("64612", drug)
    clinic.add_visit(1, 1)
    clinic.add_line(1, 1, "64612", 1)
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    assert clinic.on_hand(a) == 4
    return {"drug": drug, "a": a, "b": b, "f": f, "mapping": mapping}


def _scan(clinic: Clinic, raw: str, pid: int = 1, encounter: int = 1):  # type: ignore[no-untyped-def]
    uow = UnitOfWork(clinic.engine)
    with uow:
        result = record_chair_scan(uow, pid, encounter, raw, user="nurse",
                                   service_username=SERVICE)
        uow.commit()
    return result


@pytest.mark.parametrize("raw", [
    f"]d201{GTIN}17{_yymmdd(LATER)}{GS}10B-2",
    f"]d201{GTIN}17{_yymmdd(LATER)}10B-2",
    f"]C101{GTIN}17{_yymmdd(LATER)}{GS}10B-2",
    f"(01){GTIN}(17){_yymmdd(LATER)}(10)B-2",
    f"https://id.gs1.org/01/{GTIN}/10/B-2?17={_yymmdd(LATER)}",
])
def test_scanned_lot_becomes_the_lot_used(clinic: Clinic, visit: dict, raw: str) -> None:
    result = _scan(clinic, raw)
    assert (result.drug_id, result.inventory_id, result.lot_number) == (
        visit["drug"], visit["b"], "B-2")
    assert clinic.rows("SELECT actual_quantity, actual_lot_id, recorded_by FROM "
                       "aesthetic_inventory_usage WHERE mapping_id = :m",
                       {"m": visit["mapping"]}) == [(1, visit["b"], "nurse")]
    # the unit moved from the FEFO lot to the scanned one; every lot balances
    assert (clinic.on_hand(visit["a"]), clinic.on_hand(visit["b"])) == (5, 4)
    assert all(v == 0 for v in clinic.ledgers().values())
    again = _scan(clinic, raw)
    assert again.record.updated == 0 and clinic.on_hand(visit["b"]) == 4


def test_bad_chair_scans_write_nothing(clinic: Clinic, visit: dict) -> None:
    clinic.add_lot(visit["drug"], 0, lot_number="E-0", expiration=LATER)
    clinic.add_visit(1, 2)
    state = (clinic.rows("SELECT * FROM aesthetic_inventory_usage"),
             clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory"),
             clinic.scalar("SELECT COUNT(*) FROM drug_sales"))
    past = _yymmdd(date.today() - timedelta(days=2))
    later = _yymmdd(LATER)
    for raw, needle, kind in [
        (f"]d201{FILLER_GTIN}17{later}{GS}10F-1", "Filler is not among the materials of "
         "visit pid 1 encounter 1", InvalidInputError),
        (f"]d201{GTIN}17{later}{GS}10F-1", "lot F-1 belongs to product", InvalidInputError),
        (f"]d201{GTIN}17{past}{GS}10A-1", "expired on", InvalidInputError),
        (f"]d201{GTIN}17{later}{GS}10E-0", "lot E-0 of Botox has no stock left",
         InvalidInputError),
        (f"]d201{GTIN}17{later}{GS}10Z-9", "no lot Z-9 of Botox in stock", InvalidInputError),
        (f"]d201{GTIN}10B-217{later}", "configure it", InvalidInputError),
        ("]d20100300231145011" + f"17{later}{GS}10B-2", "check digit error", InvalidInputError),
        (f"]d201{GTIN}17{later}{GS}10B-2", "no visit with pid 1 and encounter 9",
         UnknownVisitError),
    ]:
        encounter = 9 if kind is UnknownVisitError else 1
        with pytest.raises(kind) as caught:
            _scan(clinic, raw, encounter=encounter)
        assert needle in str(caught.value), raw
    with pytest.raises(InvalidInputError, match="not among the materials"):
        _scan(clinic, f"]d201{GTIN}17{later}{GS}10B-2", encounter=2)
    assert state == (clinic.rows("SELECT * FROM aesthetic_inventory_usage"),
                     clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory"),
                     clinic.scalar("SELECT COUNT(*) FROM drug_sales"))


def test_a_lot_number_in_two_rooms_records_the_one_the_visit_draws_from(
        clinic: Clinic) -> None:
    clinic.add_user("nurse")
    drug = clinic.add_drug("Botox")
    clinic.add_warehouse("room2", 5)
    shelf = clinic.add_lot(drug, 5, lot_number="B-2", expiration=LATER)
    room = clinic.add_lot(drug, 5, lot_number="B-2", expiration=SOON, warehouse="room2")
    set_product(factory_of(clinic.engine), str(drug), ProductChange(gtins=(GTIN,)), confirmed=True)
    clinic.add_mapping("64612", drug)
    clinic.add_visit(1, 1)
    clinic.add_line(1, 1, "64612", 1)
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    assert (clinic.on_hand(shelf), clinic.on_hand(room)) == (5, 4)
    result = _scan(clinic, f"]d201{GTIN}17{_yymmdd(LATER)}{GS}10B-2")
    assert result.inventory_id == room
    assert (clinic.on_hand(shelf), clinic.on_hand(room)) == (5, 4)
    assert clinic.scalar("SELECT actual_lot_id FROM aesthetic_inventory_usage") == room
