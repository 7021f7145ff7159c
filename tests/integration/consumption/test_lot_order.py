"""One lot order (issue 16): the nurse's lot picker lists a product's lots in exactly
the order the engine takes them (sellDrug's removal strategy: the seller's default
warehouse first, warehouses by seq with NULL first, first-expiring first, lot numbers
by the column's collation, then id), and shows each lot's warehouse."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from aesthetic_inventory.consumption.domain import LotPolicy
from aesthetic_inventory.consumption.lot_order import RemovalStrategy
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.web.repository import CatalogRepository
from clinic import Clinic

SERVICE = "aesthetic-inventory"


@pytest.fixture()
def shelf(clinic: Clinic) -> tuple[int, list[int]]:
    """One product's lots spread over warehouses, expiries and collation ties."""
    today = date.today()
    clinic.add_warehouse("home", 30)
    clinic.add_warehouse("near", 10)
    clinic.add_warehouse("far", 20)
    drug = clinic.add_drug("Filler", allow_combining=1)
    lots = [
        clinic.add_lot(drug, 2, expiration=today + timedelta(days=100), lot_number="b2",
                       warehouse="home"),
        clinic.add_lot(drug, 1, expiration=today + timedelta(days=50), lot_number="ab1",
                       warehouse="near"),
        clinic.add_lot(drug, 1, expiration=today + timedelta(days=50), lot_number="AB1",
                       warehouse="near"),  # equal to 'ab1' under the collation: id decides
        clinic.add_lot(drug, 1, expiration=today + timedelta(days=50), lot_number="é1",
                       warehouse="near"),  # before 'e2' under the collation, after in bytes
        clinic.add_lot(drug, 1, expiration=today + timedelta(days=50), lot_number="e2",
                       warehouse="near"),
        clinic.add_lot(drug, 3, expiration=None, lot_number="n0", warehouse="near"),
        clinic.add_lot(drug, 2, expiration=today + timedelta(days=10), lot_number="z",
                       warehouse="far"),
        clinic.add_lot(drug, 1, expiration=today + timedelta(days=20), lot_number="w",
                       warehouse=""),  # no warehouse: seq NULL sorts first
    ]
    clinic.add_lot(drug, 4, expiration=today - timedelta(days=1), lot_number="old",
                   warehouse="near")  # expired: neither lists nor takes it
    clinic.add_lot(drug, 4, lot_number="gone", warehouse="near", destroyed=True)
    return drug, lots


def picker(clinic: Clinic, drug: int, username: str) -> list[dict]:
    with clinic.engine.connect() as conn:
        return CatalogRepository(conn).usable_lots(drug, date.today(), username)


def engine_order(clinic: Clinic, drug: int, user: int, lots: list[int]) -> list[int]:
    """The lots the engine takes, in order, when one visit billed by ``user`` needs
    every unit."""
    clinic.add_mapping("11950", drug)
    clinic.add_visit(5, 500, date.today())
    units = sum(clinic.on_hand(lot) for lot in lots)
    clinic.add_line(5, 500, "11950", units, user=user)
    # other warehouses follow the default one (SELL_FROM_ONE_WAREHOUSE off), so the
    # engine takes every lot the picker lists
    result = reconcile_visit(UnitOfWork(clinic.engine), 5, 500, service_username=SERVICE,
                             policy=LotPolicy(sell_from_one_warehouse=False))
    [line] = result.lines
    assert line.allocated == units and line.shortage == 0
    return [move.inventory_id for move in line.lots]


def test_picker_order_equals_the_order_the_engine_takes(
    clinic: Clinic, shelf: tuple[int, list[int]]
) -> None:
    drug, lots = shelf
    nurse = clinic.add_user("nurse", "home")
    listed = picker(clinic, drug, "nurse")
    taken = engine_order(clinic, drug, nurse, lots)
    assert [row["inventoryId"] for row in listed] == taken
    # home (the default) first; then by seq with no warehouse (NULL) first; near: no
    # expiry first, then 'ab1' = 'AB1' by id, 'é1' before 'e2'; far last
    assert taken == [lots[i] for i in (0, 7, 5, 1, 2, 3, 4, 6)]
    assert [(row["lotNumber"], row["warehouse"], row["warehouseName"]) for row in listed][:3] == [
        ("b2", "home", "home"), ("w", "", ""), ("n0", "near", "near")]


def test_sql_order_and_python_key_agree(clinic: Clinic, shelf: tuple[int, list[int]]) -> None:
    drug, lots = shelf
    orders = []
    for default in ("", "home", "far"):
        clinic.execute("DELETE FROM users WHERE username = 'picker'")
        if default:
            clinic.add_user("picker", default)
        listed = [row["inventoryId"] for row in picker(clinic, drug, "picker")]
        with clinic.engine.connect() as conn:
            read = ConsumptionRepository(conn).candidate_lots([drug], [])
        usable = [lot for lot in read if lot.inventory_id in set(lots)]
        by_key = sorted(usable, key=RemovalStrategy(default).sort_key)
        assert listed == [lot.inventory_id for lot in by_key], default
        orders.append(listed)
    assert orders[0] != orders[1] != orders[2]  # the default warehouse leads
