"""Every SQL statement of the scanning package: which lots carry a scanned lot number."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class ScannedLot:
    """A ``drug_inventory`` row with the scanned lot number."""

    inventory_id: int
    drug_id: int
    product: str
    warehouse_id: str
    on_hand: int
    expiration: date | None
    destroyed: bool

    @property
    def usable(self) -> bool:
        return not self.destroyed and self.on_hand > 0


class ScanRepository:
    """SQL of the scanning services inside one unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lots_numbered(self, lot_number: str) -> list[ScannedLot]:
        """Every lot with this lot number (any product), by inventory id."""
        rows = self.conn.execute(text(
            "SELECT di.inventory_id, di.drug_id, d.name, COALESCE(di.warehouse_id, ''), "
            "di.on_hand, di.expiration, di.destroy_date IS NOT NULL "
            "FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
            "WHERE di.lot_number = :n ORDER BY di.inventory_id"), {"n": lot_number}).all()
        return [ScannedLot(int(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4]),
                           r[5] if isinstance(r[5], date) else None, bool(r[6]))
                for r in rows]
