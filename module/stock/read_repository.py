"""The stock package's read statements for reports (ledger, valuation, reorder) and
the one usable-stock query; :class:`.repository.StockRepository` inherits them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.engine import Connection

from .reads import LedgerRow, PackageRow, ReorderRow, ValuationRow
from .usable import (
    PRODUCT_STOCK_TABLE,
    held_sql,
    lot_cost_sql,
    product_cost_sql,
    product_stock_join_sql,
    usable_sql,
    warehouse_join_sql,
)

LEDGER = "aesthetic_inventory_stock_ledger"
PRODUCT_STOCK = PRODUCT_STOCK_TABLE
SUPPLIER = "aesthetic_inventory_supplier"


def in_clause(sql: str, *names: str) -> TextClause:
    """A statement whose named parameters expand to ``IN (...)`` lists."""
    return text(sql).bindparams(*(bindparam(n, expanding=True) for n in names))


def _dec(value: object) -> Decimal:
    return Decimal(str(value if value is not None else 0))


class StockReadRepository:
    """Read-only statements on the caller's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def usable_stock(self, drug_ids: Iterable[int], today: date) -> dict[int, int]:
        """Usable units per product (:mod:`.usable`); products without any are absent."""
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(in_clause(
            f"SELECT di.drug_id, SUM(di.on_hand) FROM drug_inventory di {warehouse_join_sql()} "
            f"WHERE di.drug_id IN :ids AND {usable_sql()} GROUP BY di.drug_id", "ids"),
            {"ids": ids, "today": today})
        return {int(r[0]): int(r[1] or 0) for r in rows}

    def packaged_products(self) -> list[PackageRow]:
        """Every product counted in units (a counting unit, more than one per package);
        every other product counts as OpenEMR counts. A few rows, read once per report
        instead of joined to every lot."""
        rows = self.conn.execute(text(
            "SELECT ps.drug_id, ps.units_per_package, ps.counting_unit, ps.package_unit "
            f"FROM {PRODUCT_STOCK} ps WHERE ps.counting_unit <> '' "
            "AND ps.units_per_package > 1 ORDER BY ps.drug_id"))
        return [PackageRow(int(r[0]), int(r[1]), str(r[2]), str(r[3] or "")) for r in rows]

    def lot_costs(self, inventory_ids: Iterable[int]) -> dict[int, Decimal]:
        """Each lot's cost with the one fallback (:func:`.usable.lot_cost_sql`)."""
        ids = sorted(set(inventory_ids))
        if not ids:
            return {}
        rows = self.conn.execute(in_clause(
            f"SELECT di.inventory_id, {lot_cost_sql()} FROM drug_inventory di "
            f"JOIN drugs d ON d.drug_id = di.drug_id {product_stock_join_sql()} "
            "WHERE di.inventory_id IN :ids", "ids"), {"ids": ids})
        return {int(r[0]): _dec(r[1]) for r in rows}

    def ledger_rows(self, *, drug_id: int | None, inventory_id: int | None,
                    since: date | None, until: date | None, limit: int) -> list[LedgerRow]:
        """Movement ledger rows with their product and lot number, oldest first."""
        where = ["1 = 1"]
        params: dict[str, object] = {"n": limit}
        for condition, name, value in (
                ("l.drug_id = :d", "d", drug_id), ("l.inventory_id = :i", "i", inventory_id),
                ("l.created_at >= :f", "f", since),
                ("l.created_at < :t + INTERVAL 1 DAY", "t", until)):
            if value is not None:
                where.append(condition)
                params[name] = value
        rows = self.conn.execute(text(
            "SELECT l.id, l.created_at, l.movement, l.inventory_id, l.drug_id, "
            "COALESCE(d.name, ''), COALESCE(di.lot_number, ''), l.quantity, l.unit_cost, "
            "l.reference_type, l.reference_id, l.reason, l.user, l.notes "
            f"FROM {LEDGER} l LEFT JOIN drugs d ON d.drug_id = l.drug_id "
            "LEFT JOIN drug_inventory di ON di.inventory_id = l.inventory_id "
            f"WHERE {' AND '.join(where)} ORDER BY l.id LIMIT :n"), params)
        return [LedgerRow(int(r[0]), r[1], str(r[2]), int(r[3]), int(r[4]), str(r[5]),
                          str(r[6]), int(r[7]), _dec(r[8]), str(r[9]), str(r[10]),
                          str(r[11]), str(r[12]), str(r[13])) for r in rows]

    def valuation_rows(self) -> list[ValuationRow]:
        """Every lot held (not destroyed, on hand above 0), with the lot's cost and the
        product's cost, both with the one fallback of :mod:`.usable`."""
        rows = self.conn.execute(text(
            "SELECT d.drug_id, d.name, d.aesthetic_category, COALESCE(di.warehouse_id, ''), "
            f"di.on_hand, {lot_cost_sql()}, {product_cost_sql()}, COALESCE(ps.last_cost, 0) "
            "FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
            f"{product_stock_join_sql()} WHERE {held_sql()} "
            "ORDER BY d.name, d.drug_id, di.warehouse_id, di.inventory_id"))
        return [ValuationRow(int(r[0]), str(r[1] or ""), str(r[2] or ""), str(r[3]),
                             int(r[4]), _dec(r[5]), _dec(r[6]), _dec(r[7])) for r in rows]

    def reorder_rows(self, since: date, today: date) -> list[ReorderRow]:
        """Per active, dispensable product: usage since ``since`` (every issue: sales,
        AUTO_PROC and OpenEMR's own, trans_type 1, and consumption, 7, net of
        give-backs), usable stock, levels, package size, lead time."""
        rows = self.conn.execute(text(
            "SELECT d.drug_id, d.name, d.supplier_name, COALESCE(u.used, 0), "
            "COALESCE(s.on_hand, 0), d.on_order, d.max_level, ps.min_level, "
            "COALESCE(ps.units_per_package, 1), d.reorder_point, sup.lead_time_days "
            "FROM drugs d "
            "LEFT JOIN (SELECT drug_id, SUM(quantity) used FROM drug_sales "
            "  WHERE trans_type IN (1, 7) AND sale_date >= :since AND sale_date <= :today "
            "  GROUP BY drug_id) u ON u.drug_id = d.drug_id "
            "LEFT JOIN (SELECT di.drug_id, SUM(di.on_hand) on_hand FROM drug_inventory di "
            f"  {warehouse_join_sql()} WHERE {usable_sql()} GROUP BY di.drug_id) s "
            "  ON s.drug_id = d.drug_id "
            f"LEFT JOIN {PRODUCT_STOCK} ps ON ps.drug_id = d.drug_id "
            f"LEFT JOIN {SUPPLIER} sup ON sup.name = d.supplier_name "
            "WHERE d.active = 1 AND d.dispensable = 1 ORDER BY d.supplier_name, d.name"),
            {"since": since, "today": today})
        return [ReorderRow(int(r[0]), str(r[1] or ""), str(r[2] or ""), int(r[3]), int(r[4]),
                           int(r[5] or 0), int(r[6] or 0), None if r[7] is None else int(r[7]),
                           int(r[8]), int(r[9] or 0), None if r[10] is None else int(r[10]))
                for r in rows]
