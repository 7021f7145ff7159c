"""The reconcile's lot snapshot does not grow with the number of lots of a product
(issue 21). A product with few lots is read with one running-total window over its
usable lots; once a read has seen that it has more than ``DEEP_LOTS``, each warehouse's
lots come from the ``aesthetic_inventory_fefo`` index in sellDrug's order and the read
stops after the units needed. Both reads choose the same lots (for every need and
warehouse: ``test_lot_locking.py::test_cut_snapshot_chooses_exactly_what_the_full_read_chooses``).
Measured as rows the server reads (``Handler_read_*``), not as time."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from aesthetic_inventory.consumption.domain import Requirement, allocate
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from clinic import BulkRows, Clinic
from sqlalchemy.engine import Connection, Engine

SALE = date(2026, 3, 10)


def _rows_read(conn: Connection) -> int:
    rows = conn.exec_driver_sql("SHOW SESSION STATUS LIKE 'Handler_read%%'").all()
    return sum(int(value) for _name, value in rows)


def _stock(migrated_engine: Engine, clinic: Clinic, name: str, lots: int) -> int:
    """A product with ``lots`` 2-unit lots over two warehouses, expiring in turn."""
    drug = clinic.add_drug(name, allow_combining=1)
    BulkRows(migrated_engine).add_lots(
        [(drug, f"L{n:05d}", date(2027, 1 + n % 12, 1 + n % 28), 2,
          "onsite" if n % 2 else "back", None) for n in range(lots)],
        received=date(2026, 1, 1),
    )
    return drug


def _cut_read(conn: Connection, drug: int, need: int) -> tuple[int, int, list[int]]:
    """Rows the server read for a first and a second cut read, and the second's lots."""
    repo = ConsumptionRepository(conn)
    reads = []
    for _ in range(2):
        before = _rows_read(conn)
        cut = repo.candidate_lots([drug], [], needs={drug: need}, sale_date=SALE)
        reads.append(_rows_read(conn) - before)
    return reads[0], reads[1], [lot.inventory_id for lot in cut]


def test_a_deep_product_is_read_bounded_once_seen(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    clinic.add_warehouse("back", 7)
    big = _stock(migrated_engine, clinic, "Big", 2000)
    with migrated_engine.connect() as conn:
        first, second, cut = _cut_read(conn, big, 8)
        full = ConsumptionRepository(conn).candidate_lots([big], [])
    print("server rows read by the cut of 2000 lots (window, bounded):", first, second)
    assert len(cut) == 4  # 8 units from 2-unit lots
    assert first >= 2000 and second <= 200  # the index stops the bounded read
    req = Requirement(1, big, "CPT4", "X", Decimal(8), True, True, "u", "")
    by_id = {lot.inventory_id: lot for lot in full}
    assert allocate(req, [by_id[i] for i in cut], sale_date=SALE) == allocate(
        req, full, sale_date=SALE)


def test_lots_in_an_unlisted_warehouse_are_still_read(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    """A warehouse the connection has not seen in the list (added since, or never
    listed) is read unbounded, so its earlier-expiring lot is still taken first."""
    drug = clinic.add_drug("Late", allow_combining=1)
    clinic.add_lot(drug, 5, expiration=date(2028, 1, 1), lot_number="a", warehouse="onsite")
    with migrated_engine.connect() as conn:
        repo = ConsumptionRepository(conn)
        repo.deep_lots = 0
        repo.candidate_lots([drug], [], needs={drug: 1}, sale_date=SALE)  # learns: deep
        unlisted = clinic.add_lot(drug, 5, expiration=date(2026, 6, 1), lot_number="b",
                                  warehouse="nowhere")
        cut = repo.candidate_lots([drug], [], needs={drug: 1}, sale_date=SALE)
    assert [lot.inventory_id for lot in cut] == [unlisted]
