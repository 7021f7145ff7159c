"""Every SQL statement of the stock package, on the caller's connection.

Locking order (the same as the consumption engine's, so a stock command and a fee-sheet
save never wait on each other in a cycle): product rows (``drugs``, ascending drug_id;
the engine never locks them, they only serialise the stock commands' find-or-create of
a lot), then lots in ascending ``inventory_id`` with one ``SELECT ... FOR UPDATE``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .domain import ProductCost
from .read_repository import LEDGER, PRODUCT_STOCK, SUPPLIER, StockReadRepository, in_clause

DELIVERY = "aesthetic_inventory_delivery"
STOCK_COUNT = "aesthetic_inventory_stock_count"
MODULE_TABLES: tuple[str, ...] = (LEDGER, PRODUCT_STOCK, SUPPLIER, DELIVERY, STOCK_COUNT)


_in = in_clause

@dataclass(frozen=True)
class LotRow:
    inventory_id: int
    drug_id: int
    lot_number: str | None
    expiration: date | None
    warehouse_id: str
    on_hand: int
    destroyed: bool
    unit_cost: Decimal
    manufacturer: str | None = None
    vendor_id: int = 0
    supplier_name: str = ""
    aesthetic_category: str = ""


_LOT_COLUMNS = (
    "inventory_id, drug_id, lot_number, expiration, COALESCE(warehouse_id, ''), on_hand, "
    "destroy_date IS NOT NULL, unit_cost, manufacturer, vendor_id, supplier_name, "
    "aesthetic_category"
)


def _lot(r: Any) -> LotRow:
    return LotRow(int(r[0]), int(r[1]), r[2], r[3], str(r[4]), int(r[5]), bool(r[6]),
                  Decimal(str(r[7] or 0)), r[8], int(r[9] or 0), str(r[10] or ""),
                  str(r[11] or ""))


@dataclass(frozen=True)
class NewPurchase:
    """A ``drug_sales`` row as add_edit_lot.php writes it (pid/encounter/prescription 0)."""

    drug_id: int
    inventory_id: int
    user: str
    sale_date: date
    quantity: int  # negative = into the lot
    fee: Decimal
    trans_type: int
    notes: str
    xfer_inventory_id: int = 0


@dataclass(frozen=True)
class LedgerEntry:
    movement: str
    inventory_id: int
    drug_id: int
    quantity: int
    unit_cost: Decimal
    reference_type: str
    reference_id: str
    user: str
    notes: str = ""
    reason: str = ""
    sale_id: int | None = None


@dataclass(frozen=True)
class LotDrift:
    """A lot whose ``on_hand`` differs from what its ``drug_sales`` rows say."""

    inventory_id: int
    drug_id: int
    lot_number: str
    on_hand: int
    expected_on_hand: int

    @property
    def drift(self) -> int:
        return self.on_hand - self.expected_on_hand


class StockRepository(StockReadRepository):
    """SQL of the stock commands inside one unit of work (the report reads are
    inherited from :class:`.read_repository.StockReadRepository`)."""

    # -- products, warehouses, suppliers -------------------------------------------

    def products_by_id(self, ids: Iterable[int]) -> dict[int, str]:
        ids = sorted(set(ids))
        if not ids:
            return {}
        rows = self.conn.execute(
            _in("SELECT drug_id, name FROM drugs WHERE drug_id IN :ids", "ids"), {"ids": ids})
        return {int(r[0]): str(r[1]) for r in rows}

    def products_by_name(self, names: Iterable[str]) -> dict[str, list[int]]:
        """Lower-cased name -> drug ids (the column's collation decides the match)."""
        names = sorted(set(names))
        if not names:
            return {}
        rows = self.conn.execute(
            _in("SELECT drug_id, name FROM drugs WHERE name IN :names ORDER BY drug_id",
                "names"), {"names": names})
        out: dict[str, list[int]] = {}
        for r in rows:
            out.setdefault(str(r[1]).lower(), []).append(int(r[0]))
        return out

    def lock_products(self, drug_ids: Iterable[int]) -> None:
        ids = sorted(set(drug_ids))
        if ids:
            self.conn.execute(_in(
                "SELECT drug_id FROM drugs WHERE drug_id IN :ids ORDER BY drug_id FOR UPDATE",
                "ids"), {"ids": ids}).all()

    def warehouses(self) -> list[tuple[str, int]]:
        """Active warehouses (option_id, is_default) in OpenEMR's list order."""
        rows = self.conn.execute(text(
            "SELECT option_id, is_default FROM list_options WHERE list_id = 'warehouse' "
            "AND activity = 1 ORDER BY seq, title"))
        return [(str(r[0]), int(r[1] or 0)) for r in rows]

    def ensure_supplier(self, name: str) -> None:
        self.conn.execute(text(
            f"INSERT INTO {SUPPLIER} (name) VALUES (:n) ON DUPLICATE KEY UPDATE name = name"),
            {"n": name})

    def set_supplier_lead_time(self, name: str, days: int) -> None:
        self.conn.execute(text(
            f"INSERT INTO {SUPPLIER} (name, lead_time_days) VALUES (:n, :d) "
            "ON DUPLICATE KEY UPDATE lead_time_days = VALUES(lead_time_days)"),
            {"n": name, "d": days})

    def suppliers(self) -> list[tuple[str, int]]:
        return [(str(r[0]), int(r[1])) for r in self.conn.execute(text(
            f"SELECT name, lead_time_days FROM {SUPPLIER} ORDER BY name"))]

    def set_product_supplier_if_empty(self, drug_ids: Iterable[int], supplier: str) -> None:
        ids = sorted(set(drug_ids))
        if ids:
            self.conn.execute(_in(
                "UPDATE drugs SET supplier_name = :s WHERE drug_id IN :ids "
                "AND supplier_name = ''", "ids"), {"s": supplier, "ids": ids})

    # -- costs ---------------------------------------------------------------------

    def lock_costs(self, drug_ids: Iterable[int]) -> dict[int, ProductCost]:
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(_in(
            f"SELECT drug_id, average_cost, last_cost FROM {PRODUCT_STOCK} "
            "WHERE drug_id IN :ids ORDER BY drug_id FOR UPDATE", "ids"), {"ids": ids})
        return {int(r[0]): ProductCost(Decimal(str(r[1])), Decimal(str(r[2]))) for r in rows}

    def product_costs_fallback(self, drug_ids: Iterable[int]) -> dict[int, Decimal]:
        """drugs.unit_cost (version 518), the cost to start from before a first receipt."""
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(_in(
            "SELECT drug_id, unit_cost FROM drugs WHERE drug_id IN :ids", "ids"), {"ids": ids})
        return {int(r[0]): Decimal(str(r[1] or 0)) for r in rows}

    def stock_on_hand(self, drug_ids: Iterable[int]) -> dict[int, int]:
        """Units held per product (lots not destroyed, positive on hand)."""
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(_in(
            "SELECT drug_id, SUM(on_hand) FROM drug_inventory WHERE drug_id IN :ids "
            "AND destroy_date IS NULL AND on_hand > 0 GROUP BY drug_id", "ids"), {"ids": ids})
        return {int(r[0]): int(r[1] or 0) for r in rows}

    def save_costs(self, costs: dict[int, ProductCost],
                   packages: dict[int, int] | None = None) -> None:
        if costs:
            self.conn.execute(text(
                f"INSERT INTO {PRODUCT_STOCK} (drug_id, average_cost, last_cost) "
                "VALUES (:d, :a, :l) ON DUPLICATE KEY UPDATE average_cost = VALUES(average_cost), "
                "last_cost = VALUES(last_cost)"),
                [{"d": d, "a": c.average_cost, "l": c.last_cost} for d, c in sorted(costs.items())])
        if packages:
            self.conn.execute(text(
                f"INSERT INTO {PRODUCT_STOCK} (drug_id, units_per_package) VALUES (:d, :u) "
                "ON DUPLICATE KEY UPDATE units_per_package = VALUES(units_per_package)"),
                [{"d": d, "u": u} for d, u in sorted(packages.items())])

    # -- lots ------------------------------------------------------------------------

    def lot(self, inventory_id: int) -> LotRow | None:
        r = self.conn.execute(text(
            f"SELECT {_LOT_COLUMNS} FROM drug_inventory WHERE inventory_id = :i"),
            {"i": inventory_id}).first()
        return None if r is None else _lot(r)

    def lock_lots(self, ids: Iterable[int]) -> dict[int, LotRow]:
        """Lock lots in ascending inventory_id (the consumption engine's order)."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        rows = self.conn.execute(_in(
            f"SELECT {_LOT_COLUMNS} FROM drug_inventory WHERE inventory_id IN :ids "
            "ORDER BY inventory_id FOR UPDATE", "ids"), {"ids": ids})
        return {lot.inventory_id: lot for lot in map(_lot, rows)}

    def lock_matching_lots(self, drug_ids: Iterable[int],
                           lot_numbers: Iterable[str]) -> list[LotRow]:
        """Live lots (not destroyed, on_hand != 0) a receipt may add to, locked in
        inventory_id order: add_edit_lot.php reuses the newest such lot of the same
        product, warehouse and lot number."""
        ids, numbers = sorted(set(drug_ids)), sorted(set(lot_numbers))
        if not ids or not numbers:
            return []
        rows = self.conn.execute(_in(
            f"SELECT {_LOT_COLUMNS} FROM drug_inventory WHERE drug_id IN :ids "
            "AND lot_number IN :nums AND destroy_date IS NULL AND on_hand != 0 "
            "ORDER BY inventory_id FOR UPDATE", "ids", "nums"), {"ids": ids, "nums": numbers})
        return [_lot(r) for r in rows]

    def find_live_lot(self, drug_id: int, warehouse_id: str,
                      lot_number: str | None) -> LotRow | None:
        """The newest live lot (not destroyed, on_hand != 0) with this lot number in a
        warehouse: a transfer's destination in add_edit_lot.php (no lock: the caller
        locks it with the source, in inventory_id order)."""
        if not lot_number:
            return None
        r = self.conn.execute(text(
            f"SELECT {_LOT_COLUMNS} FROM drug_inventory WHERE drug_id = :d "
            "AND warehouse_id = :w AND lot_number = :l AND destroy_date IS NULL "
            "AND on_hand != 0 ORDER BY inventory_id DESC LIMIT 1"),
            {"d": drug_id, "w": warehouse_id, "l": lot_number}).first()
        return None if r is None else _lot(r)

    def insert_lot(self, *, drug_id: int, lot_number: str | None, expiration: date | None,
                   warehouse_id: str, on_hand: int, unit_cost: Decimal,
                   manufacturer: str | None = None, vendor_id: int = 0,
                   supplier_name: str = "", aesthetic_category: str = "") -> int:
        result = self.conn.execute(text(
            "INSERT INTO drug_inventory (drug_id, lot_number, manufacturer, expiration, "
            "vendor_id, warehouse_id, on_hand, unit_cost, supplier_name, aesthetic_category) "
            "VALUES (:d, :l, :m, :e, :v, :w, :q, :c, :s, :a)"),
            {"d": drug_id, "l": lot_number, "m": manufacturer, "e": expiration, "v": vendor_id,
             "w": warehouse_id, "q": on_hand, "c": unit_cost, "s": supplier_name,
             "a": aesthetic_category})
        return int(result.lastrowid)

    def add_to_lot(self, inventory_id: int, quantity: int, *, expiration: date | None = None,
                   unit_cost: Decimal | None = None, supplier_name: str = "") -> None:
        """``on_hand += quantity``; a purchase also sets the expiration (as OpenEMR does),
        the lot's unit cost and supplier."""
        self.conn.execute(text(
            "UPDATE drug_inventory SET on_hand = on_hand + :q, "
            "expiration = COALESCE(:e, expiration), unit_cost = COALESCE(:c, unit_cost), "
            "supplier_name = IF(:s = '', supplier_name, :s) WHERE inventory_id = :i"),
            {"q": quantity, "e": expiration, "c": unit_cost, "s": supplier_name,
             "i": inventory_id})

    def set_on_hand(self, values: dict[int, int], chunk: int = 1000) -> None:
        """Set many lots' on_hand with one UPDATE per ``chunk`` lots (PyMySQL batches
        only INSERTs, an ``executemany`` UPDATE would be one statement per lot)."""
        items = sorted(values.items())
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            params: dict[str, int] = {}
            whens = []
            for n, (inv, qty) in enumerate(part):
                params[f"i{n}"], params[f"q{n}"] = inv, qty
                whens.append(f"WHEN :i{n} THEN :q{n}")
            ids = ", ".join(f":i{n}" for n in range(len(part)))
            self.conn.execute(text(
                f"UPDATE drug_inventory SET on_hand = CASE inventory_id {' '.join(whens)} "
                f"ELSE on_hand END WHERE inventory_id IN ({ids})"), params)

    def destroy_lot(self, inventory_id: int, *, when: date, method: str, witness: str,
                    notes: str) -> None:
        """destroy_lot.php's UPDATE: the lot keeps its on_hand, destroy_date marks it."""
        self.conn.execute(text(
            "UPDATE drug_inventory SET destroy_date = :d, destroy_method = :m, "
            "destroy_witness = :w, destroy_notes = :n WHERE inventory_id = :i"),
            {"d": when, "m": method, "w": witness, "n": notes, "i": inventory_id})

    # -- OpenEMR rows and the ledger ---------------------------------------------------

    _SALE = (
        "INSERT INTO drug_sales (drug_id, inventory_id, prescription_id, pid, encounter, "
        "user, sale_date, quantity, fee, xfer_inventory_id, distributor_id, notes, "
        "trans_type) VALUES (%s, %s, 0, 0, 0, %s, %s, %s, %s, %s, 0, %s, %s)"
    )

    def insert_sales(self, rows: Sequence[NewPurchase], *, document: str = "") -> list[int]:
        """Insert drug_sales rows and return their ids in order (the ledger's references).

        With ``document`` (a notes prefix naming one delivery or stock take, unique to
        this transaction) the rows go in one batched INSERT and their ids are read back
        by that prefix above the highest id seen before; otherwise one INSERT per row."""
        params = [(r.drug_id, r.inventory_id, r.user, r.sale_date, r.quantity, r.fee,
                   r.xfer_inventory_id, r.notes, r.trans_type) for r in rows]
        if not document or len(rows) < 2:
            return [int(self.conn.exec_driver_sql(self._SALE, p).lastrowid) for p in params]
        floor = int(self.conn.execute(text(
            "SELECT COALESCE(MAX(sale_id), 0) FROM drug_sales")).scalar_one())
        self.conn.exec_driver_sql(self._SALE, params)  # PyMySQL: multi-row INSERT
        found = self.conn.execute(text(
            "SELECT sale_id, inventory_id, quantity FROM drug_sales WHERE sale_id > :f "
            "AND (notes = :d OR notes LIKE :p) ORDER BY sale_id"),
            {"f": floor, "d": document, "p": document.replace("%", "").replace("_", "\\_")
             + ",%"}).all()
        if [(int(r[1]), int(r[2])) for r in found] != [(p[1], p[4]) for p in params]:
            raise RuntimeError("drug_sales rows of this document could not be read back")
        return [int(r[0]) for r in found]

    def insert_ledger(self, entries: Sequence[LedgerEntry]) -> None:
        if entries:
            self.conn.execute(text(
                f"INSERT INTO {LEDGER} (movement, inventory_id, drug_id, quantity, unit_cost, "
                "reference_type, reference_id, sale_id, reason, user, notes) VALUES "
                "(:m, :i, :d, :q, :c, :rt, :ri, :s, :r, :u, :n)"),
                [{"m": e.movement, "i": e.inventory_id, "d": e.drug_id, "q": e.quantity,
                  "c": e.unit_cost, "rt": e.reference_type, "ri": e.reference_id,
                  "s": e.sale_id, "r": e.reason, "u": e.user, "n": e.notes[:255]}
                 for e in entries])

    def insert_delivery(self, *, supplier: str, invoice: str, source: str, user: str) -> int:
        return int(self.conn.execute(text(
            f"INSERT INTO {DELIVERY} (supplier, invoice, source, user) "
            "VALUES (:s, :i, :src, :u)"),
            {"s": supplier, "i": invoice, "src": source[:255], "u": user}).lastrowid)

    def close_delivery(self, delivery_id: int, lines: int, units: int, total: Decimal) -> None:
        self.conn.execute(text(
            f"UPDATE {DELIVERY} SET `lines` = :l, units = :u, total_cost = :t WHERE id = :i"),
            {"l": lines, "u": units, "t": total, "i": delivery_id})

    def insert_count(self, *, source: str, user: str) -> int:
        return int(self.conn.execute(text(
            f"INSERT INTO {STOCK_COUNT} (source, user) VALUES (:s, :u)"),
            {"s": source[:255], "u": user}).lastrowid)

    def close_count(self, count_id: int, lots: int, adjusted: int, units: int,
                    value: Decimal) -> None:
        self.conn.execute(text(
            f"UPDATE {STOCK_COUNT} SET lots = :l, adjusted = :a, variance_units = :u, "
            "variance_value = :v WHERE id = :i"),
            {"l": lots, "a": adjusted, "u": units, "v": value, "i": count_id})

    def average_costs(self, drug_ids: Iterable[int]) -> dict[int, Decimal]:
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(_in(
            f"SELECT drug_id, average_cost FROM {PRODUCT_STOCK} WHERE drug_id IN :ids",
            "ids"), {"ids": ids})
        return {int(r[0]): Decimal(str(r[1])) for r in rows}

    def set_reorder_points(self, points: dict[int, int]) -> int:
        if not points:
            return 0
        result = self.conn.execute(text(
            "UPDATE drugs SET reorder_point = :p WHERE drug_id = :d AND reorder_point <> :p"),
            [{"p": p, "d": d} for d, p in sorted(points.items())])
        return int(result.rowcount or 0)


def lot_drift(conn: Connection, *, limit: int = 1000) -> list[LotDrift]:
    """Lots whose ``on_hand`` differs from their OpenEMR ledger, for ``doctor``.

    A lot whose stock came through ``drug_sales`` rows (a purchase, or a transfer into
    it) must satisfy ``on_hand + SUM(own quantities) - SUM(quantities of transfers out
    of it) = 0``; OpenEMR's transfer row sits on the destination lot with
    ``xfer_inventory_id`` = the source. Any other value is drift (a manual SQL edit, a
    fee-sheet edit outside OpenEMR's rules...): returned with its size.
    """
    rows = conn.execute(text(
        "SELECT di.inventory_id, di.drug_id, COALESCE(di.lot_number, ''), di.on_hand, "
        "-SUM(m.q) FROM ("
        "  SELECT inventory_id lot, SUM(quantity) q, MAX(trans_type IN (2, 4)) received "
        "  FROM drug_sales WHERE inventory_id > 0 GROUP BY inventory_id "
        "  UNION ALL SELECT xfer_inventory_id, -SUM(quantity), 0 FROM drug_sales "
        "  WHERE xfer_inventory_id > 0 GROUP BY xfer_inventory_id"
        ") m JOIN drug_inventory di ON di.inventory_id = m.lot "
        "GROUP BY di.inventory_id, di.drug_id, di.lot_number, di.on_hand "
        "HAVING MAX(m.received) = 1 AND di.on_hand + SUM(m.q) <> 0 "
        "ORDER BY di.inventory_id LIMIT :n"), {"n": limit})
    return [LotDrift(int(r[0]), int(r[1]), str(r[2]), int(r[3]), int(r[4])) for r in rows]
