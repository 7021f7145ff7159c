"""Read-only SQL of the visit view and the dry runs: every billing line of the visit with
its mappings, the held rows with their lot numbers, and the change queue's waiting visits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

SELECTOR_LIKE = "AUTO_PROC:%"


class VisitRepository:
    """Plain reads (no ``FOR UPDATE``) on the caller's read-only transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def held_rows(self, pid: int, encounter: int) -> Sequence[Any]:
        """sale_id, selector, drug_id, inventory_id, quantity, billed, product, lot
        number, sale date, user: the visit's AUTO_PROC rows."""
        return self.conn.execute(text(
            "SELECT ds.sale_id, ds.selector, ds.drug_id, ds.inventory_id, ds.quantity, "
            "ds.billed, COALESCE(d.name, ''), COALESCE(di.lot_number, ''), ds.sale_date, "
            "COALESCE(ds.user, '') FROM drug_sales ds "
            "LEFT JOIN drugs d ON d.drug_id = ds.drug_id "
            "LEFT JOIN drug_inventory di ON di.inventory_id = ds.inventory_id "
            "WHERE ds.pid = :p AND ds.encounter = :e AND ds.selector LIKE :s "
            "ORDER BY ds.sale_id"), {"p": pid, "e": encounter, "s": SELECTOR_LIKE}).all()

    def billing_lines(self, pid: int, encounter: int) -> Sequence[Any]:
        """Every billing line of the visit (deleted ones too) with each mapping of its
        code: line id, code type, code, units, activity, billed, mapping id, product id,
        product, quantity per unit (mapping columns NULL for an unmapped line)."""
        return self.conn.execute(text(
            "SELECT b.id, b.code_type, b.code, b.units, b.activity, b.billed, pp.id, "
            "pp.drug_id, d.name, pp.quantity FROM billing b "
            "LEFT JOIN procedure_products pp ON pp.code_type = b.code_type "
            "AND pp.code = b.code LEFT JOIN drugs d ON d.drug_id = pp.drug_id "
            "WHERE b.pid = :p AND b.encounter = :e ORDER BY b.id, pp.id"),
            {"p": pid, "e": encounter}).all()

    def queued_visits(self) -> list[tuple[int, int]]:
        """Visits waiting in the change queue (read, not claimed)."""
        return [(int(r[0]), int(r[1])) for r in self.conn.execute(text(
            "SELECT DISTINCT pid, encounter FROM aesthetic_inventory_change_queue "
            "ORDER BY pid, encounter"))]
