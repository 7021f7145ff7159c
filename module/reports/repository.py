"""All SQL of the reports: one set-based statement per table or section.

Everything here reads; the connection is the caller's read-only transaction
(:func:`aesthetic_inventory.reports.service.read_only`). Conventions shared by the
queries:

* *usable*, *expired* and a lot's cost (0 falling back to the product's) are the one
  definition of :mod:`aesthetic_inventory.stock.usable`; a zero-date expiry is
  returned as NULL (never a zero date to Python);
* a *sale* is what OpenEMR's Inventory Activity report counts as one: a row with a
  patient and no source lot (``pid <> 0 AND xfer_inventory_id = 0``); returns and
  the module's give-backs shrink or delete such rows, so sums net them out;
* lot numbers are compared in SQL, with the column's own collation (as OpenEMR's
  screens do), never in Python.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..stock.read_repository import StockReadRepository
from ..stock.reads import PackageRow
from ..stock.usable import (
    available_warehouse_sql,
    expired_sql,
    held_sql,
    lot_cost_sql,
    product_stock_join_sql,
    usable_sql,
    warehouse_join_sql,
)

USAGE_TABLE = "aesthetic_inventory_usage"

# A lot's expiry as Python can hold it: NULL for a zero date.
_EXPIRY = "IF(YEAR(di.expiration) = 0, NULL, di.expiration)"
# usable / expired / cost: the one definition of stock.usable
_EXPIRED = expired_sql()
_USABLE = usable_sql()
_WH_JOIN = warehouse_join_sql()
_PROVIDER = (
    "COALESCE(NULLIF(TRIM(CONCAT_WS(' ', pu.fname, pu.lname)), ''), pu.username, '')"
)
_IS_SALE = "ds.pid <> 0 AND ds.xfer_inventory_id = 0"


def _product_filter(alias: str, product: int | str | None, params: dict[str, Any]) -> str:
    """`` AND <alias>.drug_id = :pid`` or ``... name = :pname`` (name in SQL, with
    the column's collation, like OpenEMR's own product lookups)."""
    if product is None:
        return ""
    if isinstance(product, int):
        params["product_id"] = product
        return f" AND {alias}.drug_id = :product_id"
    params["product_name"] = product
    return f" AND {alias}.name = :product_name"


def _activity_moves(listed: str) -> str:
    """The Inventory Activity movements of the period: ``drug_sales`` rows joined to a
    listed lot by ``inventory_id`` or ``xfer_inventory_id`` (destructions come from the
    one grouped pass over the lots, :meth:`ReportRepository.activity`)."""
    kind = (
        "CASE WHEN ds.xfer_inventory_id <> 0 THEN 'transfers' "
        "WHEN ds.pid <> 0 THEN 'sales' WHEN ds.distributor_id <> 0 THEN 'distributions' "
        "WHEN ds.fee <> 0 THEN 'purchases' ELSE 'adjustments' END"
    )
    signed = (
        "IF(ds.xfer_inventory_id <> 0 AND ds.xfer_inventory_id = di.inventory_id, "
        "ds.quantity, -ds.quantity)"
    )
    in_period = "ds.sale_date >= :start AND ds.sale_date <= :end AND ds.drug_id = di.drug_id"
    return (
        f"SELECT di.drug_id, {kind} AS kind, {signed} AS qty FROM drug_inventory di "
        f"JOIN drug_sales ds ON ds.inventory_id = di.inventory_id AND {in_period} "
        f"WHERE {listed} "
        "UNION ALL "
        f"SELECT di.drug_id, {kind}, {signed} FROM drug_inventory di "
        f"JOIN drug_sales ds ON ds.xfer_inventory_id = di.inventory_id "
        f"AND ds.inventory_id <> di.inventory_id AND {in_period} "
        f"WHERE {listed}"
    )


class ReportRepository:
    """Read-only SQL on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def start_read_only_snapshot(self) -> None:
        """Begin the report's transaction: read only, one consistent snapshot, REPEATABLE
        READ for this transaction only (the engine's default stays)."""
        self.conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        self.conn.exec_driver_sql("START TRANSACTION READ ONLY, WITH CONSISTENT SNAPSHOT")

    def _rows(self, sql: str, params: dict[str, Any]) -> Sequence[Any]:
        return self.conn.execute(text(sql), params).all()

    def _stream(self, sql: str, params: dict[str, Any]) -> Iterator[Any]:
        """Rows one at a time (server-side cursor): memory stays flat on 200k lots.
        The caller reads the stream to its end before the next statement."""
        result = self.conn.execution_options(stream_results=True, yield_per=1000).execute(
            text(sql), params
        )
        yield from result

    # -- products ----------------------------------------------------------------
    def find_products(self, product: int | str) -> list[tuple[int, str, bool, bool]]:
        """(drug_id, name, active, dispensable) of the products named or numbered."""
        params: dict[str, Any] = {}
        where = _product_filter("d", product, params)
        rows = self._rows(
            "SELECT d.drug_id, d.name, COALESCE(d.active, 0), d.dispensable FROM drugs d "
            f"WHERE 1 = 1{where} ORDER BY d.drug_id",
            params,
        )
        return [(int(r[0]), r[1] or "", bool(r[2]), bool(r[3])) for r in rows]

    def warehouse_exists(self, warehouse: str) -> bool:
        """A warehouse OpenEMR lists, or one some lot sits in."""
        return bool(self.conn.execute(text(
            "SELECT EXISTS(SELECT 1 FROM list_options WHERE list_id = 'warehouse' "
            "AND option_id = :w) OR EXISTS(SELECT 1 FROM drug_inventory "
            "WHERE warehouse_id = :w)"), {"w": warehouse}).scalar())

    def packaged_products(self) -> list[PackageRow]:
        """The products counted in units (the stock package's one statement)."""
        return StockReadRepository(self.conn).packaged_products()

    # -- stock -------------------------------------------------------------------
    def stock_levels(
        self, *, today: date, window_start: date, product: int | str | None = None,
        warehouse: str | None = None,
    ) -> Sequence[Any]:
        """Per product: drug_id, name, active, dispensable, reorder_point, usable on
        hand, expired on hand, units sold in (window_start, today]."""
        params: dict[str, Any] = {"today": today, "since": window_start}
        where_d = _product_filter("d", product, params)
        wh = ""
        if warehouse is not None:
            params["warehouse"] = warehouse
            wh = " AND di.warehouse_id = :warehouse"
        return self._rows(
            "SELECT d.drug_id, d.name, COALESCE(d.active, 0), d.dispensable, d.reorder_point, "
            "COALESCE(l.usable, 0), COALESCE(l.expired, 0), COALESCE(u.used, 0) "
            "FROM drugs d "
            # held lots summed per product and warehouse first, then the warehouse's
            # availability looked up once per group (not once per lot): usable = held,
            # not expired, in an available warehouse (stock.usable)
            "LEFT JOIN (SELECT g.drug_id, "
            f"SUM(IF({available_warehouse_sql()}, g.fresh, 0)) AS usable, "
            "SUM(g.expired) AS expired FROM (SELECT di.drug_id, di.warehouse_id, "
            f"SUM(IF({_EXPIRED}, 0, di.on_hand)) AS fresh, "
            f"SUM(IF({_EXPIRED}, di.on_hand, 0)) AS expired "
            f"FROM drug_inventory di WHERE {held_sql()}{wh} "
            f"GROUP BY di.drug_id, di.warehouse_id) g {warehouse_join_sql('g')} "
            "GROUP BY g.drug_id) l ON l.drug_id = d.drug_id "
            "LEFT JOIN (SELECT ds.drug_id, SUM(ds.quantity) AS used FROM drug_sales ds "
            f"WHERE {_IS_SALE} AND ds.sale_date > :since AND ds.sale_date <= :today "
            "GROUP BY ds.drug_id) u ON u.drug_id = d.drug_id "
            f"WHERE 1 = 1{where_d} ORDER BY d.name, d.drug_id",
            params,
        )

    def lots(
        self, *, today: date, product: int | str | None = None, warehouse: str | None = None,
        expiring_by: date | None = None, lot_number: str | None = None,
        include_empty: bool = False, costs: bool = True,
    ) -> Iterator[Any]:
        """Lots not destroyed (with stock unless ``include_empty``): inventory_id,
        drug_id, product, warehouse title, lot number, expiry (NULL for none or a
        zero date), on hand, expired flag, unit cost (stock.usable's fallback),
        destroyed flag. ``expiring_by`` keeps lots expired or expiring by that day.
        Without ``costs`` the unit cost is 0 and the product's cost row is not read (the
        stock listing shows no money: 200,000 decimals fewer to decode)."""
        params: dict[str, Any] = {"today": today}
        where = _product_filter("d", product, params)
        if warehouse is not None:
            params["warehouse"] = warehouse
            where += " AND di.warehouse_id = :warehouse"
        if expiring_by is not None:
            params["by"] = expiring_by
            where += " AND di.expiration IS NOT NULL AND di.expiration <= :by"
        if lot_number is not None:
            params["lot"] = lot_number
            where += " AND di.lot_number = :lot"
        else:
            where += " AND di.destroy_date IS NULL"
        if not include_empty:
            where += " AND di.on_hand <> 0"
        # without a product the optimizer may start from drugs and sort a temporary
        # table; a product (by name) is better found first
        join = "JOIN" if product is not None else "STRAIGHT_JOIN"
        return self._stream(
            "SELECT di.inventory_id, di.drug_id, d.name, COALESCE(lo.title, di.warehouse_id), "
            f"COALESCE(di.lot_number, ''), {_EXPIRY}, di.on_hand, {_EXPIRED}, "
            f"{lot_cost_sql() if costs else '0'}, di.destroy_date IS NOT NULL "
            f"FROM drug_inventory di {join} drugs d ON d.drug_id = di.drug_id {_WH_JOIN} "
            f"{product_stock_join_sql() if costs else ''} "
            f"WHERE 1 = 1{where} "
            # lot columns only, the lots read first: a filesort of the lots, never a
            # temporary table of every joined row (wide text: on disk at 200,000 lots)
            "ORDER BY di.drug_id, di.expiration, di.lot_number, di.inventory_id",
            params,
        )

    # -- activity (OpenEMR's Inventory Activity report, set-based) -----------------
    def activity(
        self, *, start: date, end: date, product: int | str | None = None
    ) -> Sequence[Any]:
        """Per product listed by OpenEMR's report (a lot not destroyed before the
        period): drug_id, name, sales, distributions, purchases, transfers,
        adjustments (each as stock into the product's lots), end balance.

        Mirrors interface/reports/inventory_activity.php: movements are the
        ``drug_sales`` rows of the period joined to a lot of the same product by
        ``inventory_id`` or ``xfer_inventory_id``, plus a pseudo-adjustment taking a
        lot's remaining stock when it was destroyed in the period; the end balance
        is today's stock of lots not destroyed by the end date, plus every later
        row's quantity on its lot, minus later transfers out of the product's lots.
        """
        params: dict[str, Any] = {"start": start, "end": end}
        where = _product_filter("d", product, params)
        # the same product filter inside every derived table, so one product costs
        # one product's rows
        lots_of = ""
        if isinstance(product, int):
            lots_of = " AND di.drug_id = :product_id"
        elif product is not None:
            lots_of = (" AND di.drug_id IN (SELECT pd.drug_id FROM drugs pd "
                       "WHERE pd.name = :product_name)")
        listed = f"(di.destroy_date IS NULL OR di.destroy_date >= :start){lots_of}"
        moves = _activity_moves(listed)
        return self._rows(
            "SELECT d.drug_id, d.name, "
            "COALESCE(m.sales, 0), COALESCE(m.distributions, 0), COALESCE(m.purchases, 0), "
            "COALESCE(m.transfers, 0), COALESCE(m.adjustments, 0) + li.destroyed, "
            "li.on_hand + COALESCE(la.qty, 0) - COALESCE(lx.qty, 0) "
            "FROM drugs d "
            # one pass over the listed lots: which products are listed, today's stock of
            # lots not destroyed by the end date (a subset of the listed ones), and the
            # stock a destruction in the period took (an adjustment, as OpenEMR shows it)
            "JOIN (SELECT di.drug_id, "
            "SUM(IF(di.destroy_date IS NULL OR di.destroy_date > :end, di.on_hand, 0)) "
            "AS on_hand, SUM(IF(di.destroy_date IS NOT NULL AND di.on_hand <> 0 "
            "AND di.destroy_date >= :start AND di.destroy_date <= :end, -di.on_hand, 0)) "
            "AS destroyed FROM drug_inventory di "
            f"WHERE {listed} GROUP BY di.drug_id) li ON li.drug_id = d.drug_id "
            "LEFT JOIN (SELECT mv.drug_id, "
            "SUM(IF(mv.kind = 'sales', mv.qty, 0)) AS sales, "
            "SUM(IF(mv.kind = 'distributions', mv.qty, 0)) AS distributions, "
            "SUM(IF(mv.kind = 'purchases', mv.qty, 0)) AS purchases, "
            "SUM(IF(mv.kind = 'transfers', mv.qty, 0)) AS transfers, "
            "SUM(IF(mv.kind = 'adjustments', mv.qty, 0)) AS adjustments "
            f"FROM ({moves}) mv GROUP BY mv.drug_id) m ON m.drug_id = d.drug_id "
            "LEFT JOIN (SELECT di.drug_id, SUM(ds.quantity) AS qty FROM drug_sales ds "
            "JOIN drug_inventory di ON di.inventory_id = ds.inventory_id "
            f"WHERE ds.sale_date > :end{lots_of} GROUP BY di.drug_id) la "
            "ON la.drug_id = d.drug_id "
            "LEFT JOIN (SELECT di.drug_id, SUM(ds.quantity) AS qty FROM drug_sales ds "
            "JOIN drug_inventory di ON di.inventory_id = ds.xfer_inventory_id "
            f"WHERE ds.sale_date > :end{lots_of} GROUP BY di.drug_id) lx "
            "ON lx.drug_id = d.drug_id "
            f"WHERE 1 = 1{where} ORDER BY d.name, d.drug_id",
            params,
        )

    # -- usage -------------------------------------------------------------------
    def usage_cells(self, *, start: date, end: date) -> Sequence[Any]:
        """One scan of the period's sales grouped WITH ROLLUP by product, month,
        provider and procedure code, of which only the product subtotals (month NULL)
        and the finest rows come back: drug_id, month (YYYYMM), provider id, code type,
        code (NULL from month on for a subtotal; never NULL otherwise), units, distinct
        visits, product name, provider name. Names are joined to the grouped rows, so
        the grouping's temporary table stays narrow and in memory. The subtotals carry
        the visits; the finest rows add up to the code, provider and month breakdowns."""
        return self._rows(
            f"SELECT g.drug_id, g.u_month, g.u_provider, g.u_type, g.u_code, g.units, "
            f"g.visits, d.name, {_PROVIDER} FROM ("
            # the month as a number (YYYYMM): DATE_FORMAT's wide text column would push
            # the grouping's temporary table from memory to disk
            "SELECT ds.drug_id, EXTRACT(YEAR_MONTH FROM ds.sale_date) AS u_month, "
            "COALESCE(fe.provider_id, 0) AS u_provider, COALESCE(us.code_type, '') AS u_type, "
            "COALESCE(us.code, '') AS u_code, SUM(ds.quantity) AS units, "
            "COUNT(DISTINCT ds.pid, ds.encounter) AS visits "
            "FROM drug_sales ds "
            f"LEFT JOIN {USAGE_TABLE} us ON ds.selector LIKE 'AUTO_PROC:%' "
            "AND us.pid = ds.pid AND us.encounter = ds.encounter "
            "AND us.mapping_id = CAST(SUBSTRING(ds.selector, 11) AS UNSIGNED) "
            "LEFT JOIN form_encounter fe ON fe.pid = ds.pid AND fe.encounter = ds.encounter "
            f"WHERE {_IS_SALE} AND ds.sale_date >= :start AND ds.sale_date <= :end "
            "GROUP BY ds.drug_id, u_month, u_provider, u_type, u_code WITH ROLLUP) g "
            "JOIN drugs d ON d.drug_id = g.drug_id "
            "LEFT JOIN users pu ON pu.id = g.u_provider "
            "WHERE g.u_month IS NULL OR g.u_code IS NOT NULL",
            {"start": start, "end": end},
        )

    # -- shortages ---------------------------------------------------------------
    def open_shortages(self) -> Sequence[Any]:
        """Visits waiting for stock: product, drug_id, pid, encounter, visit date,
        code type, code, required, allocated, short, usable stock now."""
        return self._rows(
            "SELECT d.name, us.drug_id, us.pid, us.encounter, DATE(fe.date), us.code_type, "
            "us.code, us.required_units, us.allocated_units, us.shortage_units "
            f"FROM {USAGE_TABLE} us JOIN drugs d ON d.drug_id = us.drug_id "
            "LEFT JOIN form_encounter fe ON fe.pid = us.pid AND fe.encounter = us.encounter "
            "WHERE us.shortage_units > 0 ORDER BY d.name, us.drug_id, fe.date, us.encounter",
            {},
        )

    # -- recall ------------------------------------------------------------------
    def _recall_select(self) -> str:
        return (
            "SELECT ds.pid, COALESCE(pd.fname, ''), COALESCE(pd.lname, ''), "
            "IF(YEAR(pd.DOB) = 0, NULL, pd.DOB), COALESCE(pd.phone_home, ''), "
            "COALESCE(pd.phone_cell, ''), COALESCE(pd.email, ''), "
            "MIN(COALESCE(DATE(fe.date), ds.sale_date)), ds.encounter, "
            f"SUM(ds.quantity) AS units, MIN({_PROVIDER}), d.name, COALESCE(di.lot_number, ''), "
            f"di.inventory_id, {_EXPIRY} "
            "FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
            f"JOIN drug_sales ds ON ds.inventory_id = di.inventory_id AND {_IS_SALE} "
            "LEFT JOIN patient_data pd ON pd.pid = ds.pid "
            "LEFT JOIN form_encounter fe ON fe.pid = ds.pid AND fe.encounter = ds.encounter "
            "LEFT JOIN users pu ON pu.id = fe.provider_id "
        )

    _RECALL_GROUP = (
        " GROUP BY di.inventory_id, ds.pid, ds.encounter, pd.fname, pd.lname, pd.DOB, "
        "pd.phone_home, pd.phone_cell, pd.email, d.name, di.lot_number, di.expiration "
        "HAVING units > 0"
    )

    def recall_by_lot(self, lot_number: str, product: int | str | None) -> Iterator[Any]:
        """Per lot of that number and per visit, the units the patient kept (sales
        net of returns and give-backs), with the patient's contact details."""
        params: dict[str, Any] = {"lot": lot_number}
        where = _product_filter("d", product, params)
        return self._stream(
            self._recall_select() + f"WHERE di.lot_number = :lot{where}" + self._RECALL_GROUP
            + " ORDER BY 8, ds.pid, ds.encounter",
            params,
        )

    def recall_by_patient(self, pid: int) -> Iterator[Any]:
        """Every lot the patient received (net units per lot and visit)."""
        return self._stream(
            self._recall_select() + "WHERE ds.pid = :pid" + self._RECALL_GROUP
            + " ORDER BY 8, ds.encounter, d.name, di.inventory_id",
            {"pid": pid},
        )

    def patient_exists(self, pid: int) -> bool:
        return bool(self.conn.execute(
            text("SELECT (SELECT COUNT(*) FROM patient_data WHERE pid = :p) + "
                 "(SELECT COUNT(*) FROM form_encounter WHERE pid = :p)"), {"p": pid}
        ).scalar())

    def sales_window_dates(self) -> tuple[date | None, date | None]:
        row = self.conn.execute(
            text(f"SELECT MIN(ds.sale_date), MAX(ds.sale_date) FROM drug_sales ds WHERE {_IS_SALE}")
        ).one()
        return row[0], row[1]


def as_decimal(value: Any) -> Decimal:
    """A SQL number as a Decimal (floats through their shortest text form)."""
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value if value is not None else 0))
