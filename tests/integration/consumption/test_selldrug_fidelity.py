"""Lot choice exactly as OpenEMR's ``sellDrug`` on real-world data (issue 8 B, issue 11
item 6): lot-number ties in the column's collation, zero and invalid expiration dates,
SELL_FROM_ONE_WAREHOUSE, and the block-days expiry policy."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from aesthetic_inventory.alerts.repositories.state import AlertStateRepository
from aesthetic_inventory.consumption.batch import drain_change_queue, sweep_visits
from aesthetic_inventory.consumption.domain import LotPolicy
from aesthetic_inventory.consumption.repositories.health import count_invalid_expiration_lots
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import VISIT_DATE, Clinic
from dbtools import uows
from sqlalchemy.engine import Engine

SERVICE = "aesthetic-inventory"
SAME_DAY = date(2027, 1, 1)


def reconcile(engine: Engine, pid: int, enc: int, **kw):  # type: ignore[no-untyped-def]
    return reconcile_visit(UnitOfWork(engine), pid, enc, service_username=SERVICE, **kw)


def taken_lots(clinic: Clinic, engine: Engine, drug: int, visits: int) -> list[int]:
    """Sell 1 unit per visit, one visit after the other: the lots in the order used."""
    clinic.add_mapping("15828", drug)
    order = []
    for enc in range(1, visits + 1):
        clinic.add_visit(1, enc)
        clinic.add_line(1, enc, "15828", 1)
        result = reconcile(engine, 1, enc)
        order += [m.inventory_id for line in result.lines for m in line.lots]
    return order


# lot numbers whose code-point order differs from every case-insensitive collation
NUMBERS = ["B2", "a1", "AB1", "ab1", "x1 ", "x1", "é1", "e1", "a1\t", "Z9"]


@pytest.mark.parametrize(
    "charset, collation",
    [
        ("utf8mb4", "utf8mb4_general_ci"),
        ("utf8mb4", "utf8mb4_unicode_ci"),
        ("utf8mb4", "utf8mb4_swedish_ci"),  # a language collation
        ("latin1", "latin1_swedish_ci"),
        ("utf8mb4", "utf8mb4_bin"),
    ],
)
def test_lot_number_ties_follow_the_column_collation(
    clinic: Clinic, migrated_engine: Engine, charset: str, collation: str
) -> None:
    clinic.execute(
        f"ALTER TABLE drug_inventory MODIFY lot_number VARCHAR(20) "
        f"CHARACTER SET {charset} COLLATE {collation} NULL"
    )
    drug = clinic.add_drug("Botox", allow_combining=1)
    lots = {clinic.add_lot(drug, 1, expiration=SAME_DAY, lot_number=n): n for n in NUMBERS}
    # what OpenEMR's ORDER BY ... di.lot_number, di.inventory_id gives on this server
    server = [r[0] for r in clinic.rows(
        "SELECT inventory_id FROM drug_inventory ORDER BY expiration, lot_number, inventory_id")]
    assert taken_lots(clinic, migrated_engine, drug, len(NUMBERS)) == server
    if collation != "utf8mb4_bin":
        assert server != sorted(lots, key=lambda i: (lots[i], i))  # not code-point order
    if collation == "utf8mb4_general_ci":
        names = [lots[i] for i in server]
        assert names.index("a1") < names.index("B2")
        assert names.index("AB1") + 1 == names.index("ab1")  # equal: inventory_id decides
        assert names.index("x1 ") + 1 == names.index("x1")  # trailing space ignored
        assert names.index("é1") + 1 == names.index("e1")  # accent ignored


def test_zero_and_partial_expiration_dates_are_compared_as_sell_drug_does(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler", allow_combining=1)
    zero = clinic.add_lot(drug, 5, expiration="0000-00-00", lot_number="Z")
    past_month = clinic.add_lot(drug, 5, expiration="2026-02-00", lot_number="P")
    future_month = clinic.add_lot(drug, 2, expiration="2026-09-00", lot_number="F")
    good = clinic.add_lot(drug, 5, expiration=date(2026, 10, 1), lot_number="G")
    with migrated_engine.connect() as conn:
        assert count_invalid_expiration_lots(conn) == 3
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100, VISIT_DATE)  # 2026-03-10
    clinic.add_line(1, 100, "11950", 4)
    result = reconcile(migrated_engine, 1, 100)
    # '0000-00-00' and '2026-02-00' <= '2026-03-10': expired, skipped; '2026-09-00' sorts
    # before 2026-10-01 and is not expired
    assert [(m.inventory_id, m.quantity) for m in result.lines[0].lots] == [
        (future_month, 2), (good, 2)]
    assert (clinic.on_hand(zero), clinic.on_hand(past_month)) == (5, 5)
    assert set(clinic.ledgers().values()) == {0}


def test_zero_dates_never_crash_sync_the_queue_or_alerts(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Peel", allow_combining=1)
    clinic.execute("UPDATE drugs SET reorder_point = 50 WHERE drug_id = :d", {"d": drug})
    zero = clinic.add_lot(drug, 3, expiration="0000-00-00", lot_number="Z")
    clinic.add_mapping("15788", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15788", 2)  # queued by the billing trigger
    clinic.execute("DELETE FROM aesthetic_inventory_stock_queue")  # the lot's receipt
    drained = drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert (drained.visits, drained.failed) == (1, 0)
    assert clinic.usage(1, 100)[0][4] == 2  # all short: the zero-date lot is expired
    swept = sweep_visits(uows(migrated_engine), since=date(2026, 1, 1), service_username=SERVICE)
    assert swept.failed == 0
    assert clinic.on_hand(zero) == 3
    with migrated_engine.connect() as conn:
        lots = list(AlertStateRepository(conn).lots_to_notify(
            date(2026, 3, 10), date(2026, 4, 10), due=datetime(2026, 3, 10)))
    assert [(lot.inventory_id, lot.expiration) for lot, _ in lots] == [(zero, "0000-00-00")]


@pytest.fixture
def two_warehouses(clinic: Clinic) -> dict[str, int]:
    clinic.add_warehouse("annex", 50)
    drug = clinic.add_drug("Botox", allow_combining=1)
    ids = {
        "drug": drug,
        "onsite": clinic.add_lot(drug, 5, expiration=date(2026, 5, 1), warehouse="onsite"),
        "annex": clinic.add_lot(drug, 1, expiration=date(2027, 5, 1), warehouse="annex"),
    }
    clinic.add_mapping("15828", drug)
    ids["nurse"] = clinic.add_user("nurse", default_warehouse="annex")
    clinic.add_visit(1, 100)
    return ids


def test_sell_from_one_warehouse_takes_only_the_users_warehouse(
    clinic: Clinic, migrated_engine: Engine, two_warehouses: dict[str, int]
) -> None:
    clinic.add_line(1, 100, "15828", 3, user=two_warehouses["nurse"])
    result = reconcile(migrated_engine, 1, 100)  # default policy: OpenEMR's
    assert (result.lines[0].allocated, result.lines[0].shortage) == (1, 2)
    assert clinic.on_hand(two_warehouses["onsite"]) == 5
    assert clinic.usage(1, 100)[0][3:] == (1, 2)


def test_sell_from_one_warehouse_off_falls_back_to_other_warehouses(
    clinic: Clinic, migrated_engine: Engine, two_warehouses: dict[str, int]
) -> None:
    clinic.add_line(1, 100, "15828", 3, user=two_warehouses["nurse"])
    result = reconcile(migrated_engine, 1, 100,
                       policy=LotPolicy(sell_from_one_warehouse=False))
    assert [(m.inventory_id, m.quantity) for m in result.lines[0].lots] == [
        (two_warehouses["annex"], 1), (two_warehouses["onsite"], 2)]


def test_user_without_default_warehouse_sells_from_any(
    clinic: Clinic, migrated_engine: Engine, two_warehouses: dict[str, int]
) -> None:
    other = clinic.add_user("frontdesk")
    clinic.add_line(1, 100, "15828", 6, user=other)
    result = reconcile(migrated_engine, 1, 100)
    assert (result.lines[0].allocated, result.lines[0].shortage) == (6, 0)


@pytest.mark.parametrize("days, expected", [(0, "soon"), (20, "soon"), (21, "later"),
                                            (30, "later")])
def test_block_days_before_expiry(
    clinic: Clinic, migrated_engine: Engine, days: int, expected: str
) -> None:
    drug = clinic.add_drug("Botox", allow_combining=0)
    lots = {
        "soon": clinic.add_lot(drug, 5, expiration=date(2026, 3, 31)),  # sale + 21 days
        "later": clinic.add_lot(drug, 5, expiration=date(2026, 12, 1)),
    }
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 2)
    result = reconcile(migrated_engine, 1, 100,
                       policy=LotPolicy(block_days_before_expiry=days))
    assert [m.inventory_id for m in result.lines[0].lots] == [lots[expected]]


def test_block_days_apply_to_the_running_total_snapshot(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    """The cut read of a combining product must not count blocked lots, or it would
    stop before the lots that can really be taken."""
    drug = clinic.add_drug("Filler", allow_combining=1)
    for day in range(12, 20):
        clinic.add_lot(drug, 1, expiration=date(2026, 3, day))
    late = clinic.add_lot(drug, 9, expiration=date(2027, 1, 1))
    clinic.add_mapping("11950", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 3)
    result = reconcile(migrated_engine, 1, 100,
                       policy=LotPolicy(block_days_before_expiry=30))
    assert [(m.inventory_id, m.quantity) for m in result.lines[0].lots] == [(late, 3)]
    assert result.lines[0].shortage == 0


def test_invalid_date_count_sees_only_invalid_dates(clinic: Clinic, migrated_engine: Engine
                                                    ) -> None:
    drug = clinic.add_drug("X")
    clinic.add_lot(drug, 1, expiration=None)
    clinic.add_lot(drug, 1, expiration=date(2026, 2, 28))
    clinic.add_lot(drug, 1, expiration="2026-00-10")
    with migrated_engine.connect() as conn:
        assert count_invalid_expiration_lots(conn) == 1
