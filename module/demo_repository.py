"""The SQL of the demo's stock table (the lots on hand, as the demo prints them)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class StockLine:
    """One lot of a product, as the stock table shows it."""

    product: str
    category: str
    lot_number: str | None
    expiration: dt.date | None
    warehouse: str
    on_hand: int
    unit_cost: Decimal
    supplier: str
    reorder_point: float


class DemoRepository:
    """Reads of the demo database on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def stock_lines(self) -> list[StockLine]:
        """Every active product with its lots (not destroyed), by product and expiry."""
        rows = self.conn.execute(
            text(
                "SELECT d.name, d.aesthetic_category, i.lot_number, i.expiration, "
                "i.warehouse_id, i.on_hand, i.unit_cost, i.supplier_name, d.reorder_point "
                "FROM drugs d JOIN drug_inventory i ON i.drug_id = d.drug_id "
                "WHERE d.active = 1 AND i.destroy_date IS NULL "
                "ORDER BY d.name, i.expiration, i.inventory_id"
            )
        ).all()
        return [
            StockLine(
                product=r[0],
                category=r[1],
                lot_number=r[2],
                expiration=r[3],
                warehouse=r[4],
                on_hand=int(r[5]),
                unit_cost=Decimal(r[6]),
                supplier=r[7],
                reorder_point=float(r[8]),
            )
            for r in rows
        ]
