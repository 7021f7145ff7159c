"""All SQL of planned-versus-actual usage (bound parameters only).

The reconcile's own reads and writes of the actual columns live in the consumption
repository (they share its statements, so a reconcile costs no extra round trip);
this one serves ``usage record``, ``usage show``, the history and the variance report.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..consumption.actuals import Actual, MappingRef
from ..consumption.domain import SELECTOR_PREFIX, Lot, parse_selector
from ..consumption.repositories.actuals import ActualsRepository
from ..stock.usable import PRODUCT_STOCK_TABLE, usable_sql, warehouse_join_sql

__all__ = ["HeldRow", "HistoryRow", "MappingRef", "ProductInfo", "StoredRecord",
           "UsageRepository", "VisitMapping", "VisitRows", "variance_rows"]


@dataclass(frozen=True)
class StoredRecord:
    """The usage record of one visit and mapping with its actual (if any)."""

    mapping_id: int
    drug_id: int
    code_type: str
    code: str
    planned_quantity: Decimal
    required_units: int
    allocated_units: int
    shortage_units: int
    actual: Actual | None


@dataclass(frozen=True)
class HeldRow:
    """An AUTO_PROC row of the visit with its lot number."""

    sale_id: int
    mapping_id: int
    drug_id: int
    inventory_id: int
    lot_number: str | None
    quantity: int
    billed: bool


@dataclass(frozen=True)
class ProductInfo:
    """Product facts ``usage show`` prints: name, category, unit, unit cost, stock."""

    drug_id: int
    name: str
    category: str
    unit: str
    unit_cost: Decimal
    reorder_point: float
    current_stock: int


@dataclass(frozen=True)
class HistoryRow:
    """One append-only history entry."""

    history_id: int
    mapping_id: int
    drug_id: int
    planned_quantity: Decimal
    old_actual: Decimal | None
    new_actual: Decimal | None
    old_reason: str | None
    new_reason: str | None
    old_notes: str | None
    new_notes: str | None
    old_lot_id: int | None
    new_lot_id: int | None
    source: str
    changed_by: str
    changed_at: datetime
    product_name: str = ""


@dataclass(frozen=True)
class VisitMapping:
    """One mapping of a visit as :meth:`UsageRepository.visit_rows` reads it: its live
    plan (None when no live billing line bills it), its usage record (None before the
    first reconcile), its product (None when the product row is gone), the lot number
    of its recorded actual's lot, whether ``procedure_products`` still maps its
    recorded code to its product, and (when asked) the AUTO_PROC rows it holds."""

    mapping_id: int
    plan: tuple[MappingRef, Decimal] | None
    record: StoredRecord | None
    product: ProductInfo | None
    actual_lot_number: str | None
    still_mapped: bool
    held: tuple[HeldRow, ...] = ()

    @property
    def ref(self) -> MappingRef:
        """The mapping: the live plan's, else the record's (with the product's name)."""
        if self.plan is not None:
            return self.plan[0]
        assert self.record is not None
        r = self.record
        return MappingRef(r.mapping_id, r.drug_id, r.code_type, r.code,
                          self.product.name if self.product else "")


@dataclass(frozen=True)
class VisitRows:
    """A visit's mappings (live or recorded, by mapping id) and whether fee-sheet edits
    wait to be absorbed: what ``usage show`` and ``usage record`` read, in one statement."""

    pending_edits: bool
    mappings: tuple[VisitMapping, ...]

    def live(self) -> dict[int, tuple[MappingRef, Decimal]]:
        """Mappings of the live billing lines with their planned quantity."""
        return {m.mapping_id: m.plan for m in self.mappings if m.plan is not None}

    def records(self) -> dict[int, StoredRecord]:
        """The visit's usage records by mapping."""
        return {m.mapping_id: m.record for m in self.mappings if m.record is not None}

    def mapping(self, mapping_id: int) -> VisitMapping | None:
        """The visit's mapping ``mapping_id`` (None when it is not on the visit)."""
        return next((m for m in self.mappings if m.mapping_id == mapping_id), None)


_RECORD_COLUMNS = (
    "u.mapping_id, u.drug_id, u.code_type, u.code, u.planned_quantity, u.required_units, "
    "u.allocated_units, u.shortage_units, u.actual_quantity, u.variance_reason, "
    "u.actual_notes, u.actual_lot_id, u.actual_source, u.recorded_by, u.recorded_at"
)


# The live plan of a visit: its live billing lines' mappings (of products that exist).
_PLAN = (
    "SELECT pp.id, pp.drug_id, pp.code_type, pp.code, "
    "SUM(COALESCE(b.units, 0)) * pp.quantity AS planned FROM billing b "
    "JOIN procedure_products pp ON pp.code_type = b.code_type AND pp.code = b.code "
    "JOIN drugs pd ON pd.drug_id = pp.drug_id "
    "WHERE b.pid = :p AND b.encounter = :e AND b.activity = 1 "
    "GROUP BY pp.id, pp.drug_id, pp.code_type, pp.code, pp.quantity"
)
# One row per mapping (planned, recorded or both; MariaDB has no FULL JOIN, so the
# mapping ids are a UNION), or one row of NULLs for a visit without any; no row at all
# when the visit does not exist. Columns: mapping 0, plan 1-4, record 5-19 (as
# _RECORD_COLUMNS), product 20-26, actual's lot number 27, still mapped 28, pending
# fee-sheet edits 29; with the held rows (one row per mapping and AUTO_PROC row, as
# held_rows() reads them) 30-36.
_VISIT_ROWS = (
    "SELECT m.mapping_id, pl.drug_id, pl.code_type, pl.code, pl.planned, "
    "{record}, d.drug_id, d.name, d.aesthetic_category, COALESCE(lo.title, d.unit), "
    "d.unit_cost, d.reorder_point, "
    "(SELECT COALESCE(SUM(di.on_hand), 0) FROM drug_inventory di {warehouse} "
    "WHERE di.drug_id = d.drug_id AND {usable}), "
    "al.lot_number, (mp.id IS NOT NULL AND mp.drug_id = u.drug_id "
    "AND mp.code_type = u.code_type AND mp.code = u.code), fe.pending{held_columns} "
    "FROM (SELECT EXISTS(SELECT 1 FROM aesthetic_inventory_fee_sheet_edits "
    "WHERE pid = :p AND encounter = :e) AS pending FROM form_encounter "
    "WHERE pid = :p AND encounter = :e LIMIT 1) fe "
    "LEFT JOIN (SELECT id AS mapping_id FROM ({plan}) lp UNION "
    "SELECT mapping_id FROM aesthetic_inventory_usage WHERE pid = :p AND encounter = :e"
    ") m ON 1 = 1 "
    "LEFT JOIN ({plan}) pl ON pl.id = m.mapping_id "
    "LEFT JOIN aesthetic_inventory_usage u ON u.pid = :p AND u.encounter = :e "
    "AND u.mapping_id = m.mapping_id "
    "LEFT JOIN drugs d ON d.drug_id = COALESCE(pl.drug_id, u.drug_id) "
    "LEFT JOIN list_options lo ON lo.list_id = 'drug_units' AND lo.option_id = d.unit "
    "LEFT JOIN drug_inventory al ON al.inventory_id = u.actual_lot_id "
    "LEFT JOIN procedure_products mp ON mp.id = m.mapping_id{held_join} "
    "ORDER BY m.mapping_id{held_order}"
)
_VISIT_ARGS = {"record": _RECORD_COLUMNS, "plan": _PLAN,
               "warehouse": warehouse_join_sql("di", "wh"), "usable": usable_sql("di", "wh")}
_VISIT_MAPPINGS = _VISIT_ROWS.format(held_columns="", held_join="", held_order="",
                                     **_VISIT_ARGS)
_VISIT_MAPPINGS_HELD = _VISIT_ROWS.format(
    held_columns=", ds.sale_id, ds.selector, ds.drug_id, ds.inventory_id, hdi.lot_number, "
    "ds.quantity, ds.billed",
    held_join=" LEFT JOIN drug_sales ds ON ds.pid = :p AND ds.encounter = :e "
    "AND ds.selector = CONCAT(:prefix, m.mapping_id) "
    "LEFT JOIN drug_inventory hdi ON hdi.inventory_id = ds.inventory_id",
    held_order=", ds.sale_id", **_VISIT_ARGS)


def _record(r: Sequence[Any]) -> StoredRecord:
    actual = None
    if r[8] is not None:
        actual = Actual(
            quantity=Decimal(r[8]), reason=r[9], notes=r[10],
            lot_id=None if r[11] is None else int(r[11]),
            source=str(r[12] or "usage"), recorded_by=str(r[13] or ""), recorded_at=r[14],
        )
    return StoredRecord(
        int(r[0]), int(r[1]), str(r[2] or ""), str(r[3] or ""),
        Decimal(r[4]), int(r[5]), int(r[6]), int(r[7]), actual,
    )


def _visit_mapping(r: Sequence[Any], held: tuple[HeldRow, ...]) -> VisitMapping:
    plan = None
    if r[1] is not None:
        ref = MappingRef(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[21] or ""))
        plan = (ref, max(Decimal(r[4] or 0), Decimal(0)))
    product = None
    if r[20] is not None:
        product = ProductInfo(int(r[20]), str(r[21] or ""), str(r[22] or ""),
                              str(r[23] or ""), Decimal(r[24] or 0), float(r[25] or 0),
                              int(r[26] or 0))
    record = None if r[5] is None else _record(r[5:20])
    return VisitMapping(int(r[0]), plan, record, product, r[27], bool(r[28]), held)


class UsageRepository(ActualsRepository):
    """SQL of usage records, history and fee-sheet edits on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- reads -------------------------------------------------------------------

    def lock_visit(self, pid: int, encounter: int) -> bool:
        """Lock the visit's encounter row(s), the first lock every writer of a visit takes
        (the consumption engine does the same), so a recorded actual and a reconcile of
        the same visit never interleave. False when there is no such visit."""
        rows = self.conn.execute(
            text("SELECT id FROM form_encounter WHERE pid = :p AND encounter = :e FOR UPDATE"),
            {"p": pid, "e": encounter},
        ).all()
        return bool(rows)

    def visit_exists(self, pid: int, encounter: int) -> bool:
        return self.conn.execute(
            text("SELECT 1 FROM form_encounter WHERE pid = :p AND encounter = :e LIMIT 1"),
            {"p": pid, "e": encounter},
        ).first() is not None

    def mappings_of_code(self, code_type: str, code: str) -> list[MappingRef]:
        rows = self.conn.execute(
            text(
                "SELECT pp.id, pp.drug_id, pp.code_type, pp.code, d.name "
                "FROM procedure_products pp JOIN drugs d ON d.drug_id = pp.drug_id "
                "WHERE pp.code_type = :t AND pp.code = :c ORDER BY pp.id"
            ),
            {"t": code_type, "c": code},
        ).all()
        return [MappingRef(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4] or ""))
                for r in rows]

    def live_planned(self, pid: int, encounter: int) -> dict[int, tuple[MappingRef, Decimal]]:
        """Mappings of the visit's live billing lines with their exact planned quantity."""
        rows = self.conn.execute(
            text(
                "SELECT pp.id, pp.drug_id, pp.code_type, pp.code, d.name, "
                "SUM(COALESCE(b.units, 0)) * pp.quantity FROM billing b "
                "JOIN procedure_products pp ON pp.code_type = b.code_type AND pp.code = b.code "
                "JOIN drugs d ON d.drug_id = pp.drug_id "
                "WHERE b.pid = :p AND b.encounter = :e AND b.activity = 1 "
                "GROUP BY pp.id, pp.drug_id, pp.code_type, pp.code, d.name, pp.quantity"
            ),
            {"p": pid, "e": encounter},
        ).all()
        return {
            int(r[0]): (
                MappingRef(int(r[0]), int(r[1]), str(r[2]), str(r[3]), str(r[4] or "")),
                max(Decimal(r[5] or 0), Decimal(0)),
            )
            for r in rows
        }

    def records(self, pid: int, encounter: int) -> dict[int, StoredRecord]:
        rows = self.conn.execute(
            text(
                f"SELECT {_RECORD_COLUMNS} FROM aesthetic_inventory_usage u "
                "WHERE u.pid = :p AND u.encounter = :e ORDER BY u.mapping_id"
            ),
            {"p": pid, "e": encounter},
        ).all()
        return {int(r[0]): _record(r) for r in rows}

    def visit_rows(self, pid: int, encounter: int, today: date, *,
                   with_held: bool = False) -> VisitRows | None:
        """The visit's mappings with plan, record, product (name, category, unit, cost,
        reorder point, usable stock as :mod:`aesthetic_inventory.stock.usable` counts it
        on ``today``), actual's lot number and (``with_held``) the rows each holds, and
        whether fee-sheet edits are pending, in one statement (issue 21: it replaces
        seven reads); None when there is no such visit."""
        sql = _VISIT_MAPPINGS_HELD if with_held else _VISIT_MAPPINGS
        rows = self.conn.execute(text(sql), {"p": pid, "e": encounter, "today": today,
                                             "prefix": SELECTOR_PREFIX}).all()
        if not rows:
            return None
        held: dict[int, list[HeldRow]] = {}
        firsts: dict[int, Sequence[Any]] = {}
        for r in rows:
            if r[0] is None or (r[1] is None and r[5] is None):
                continue  # a visit without mappings, or a plan whose product is gone
            firsts.setdefault(int(r[0]), r)
            if with_held and r[30] is not None:
                held.setdefault(int(r[0]), []).append(HeldRow(
                    int(r[30]), int(r[0]), int(r[32]), int(r[33]), r[34], int(r[35]),
                    bool(r[36])))
        mappings = tuple(_visit_mapping(r, tuple(held.get(m, ()))) for m, r in firsts.items())
        return VisitRows(bool(rows[0][29]), mappings)

    def held_rows(self, pid: int, encounter: int) -> list[HeldRow]:
        rows = self.conn.execute(
            text(
                "SELECT ds.sale_id, ds.selector, ds.drug_id, ds.inventory_id, di.lot_number, "
                "ds.quantity, ds.billed FROM drug_sales ds "
                "LEFT JOIN drug_inventory di ON di.inventory_id = ds.inventory_id "
                "WHERE ds.pid = :p AND ds.encounter = :e AND ds.selector LIKE :prefix "
                "ORDER BY ds.sale_id"
            ),
            {"p": pid, "e": encounter, "prefix": SELECTOR_PREFIX + "%"},
        ).all()
        held = []
        for r in rows:
            mapping_id = parse_selector(r[1])
            if mapping_id is not None:
                held.append(HeldRow(int(r[0]), mapping_id, int(r[2]), int(r[3]), r[4],
                                    int(r[5]), bool(r[6])))
        return held

    def lots_named(self, lot: str) -> list[Lot]:
        """Lots with this lot number (any product), or the lot with this id when ``lot``
        is ``#<inventory_id>``."""
        if lot.startswith("#") and lot[1:].isdigit():
            where, value = "inventory_id = :v", int(lot[1:])
        else:
            where, value = "lot_number = :v", lot  # type: ignore[assignment]
        rows = self.conn.execute(
            text(
                "SELECT inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number, "
                f"destroy_date IS NOT NULL FROM drug_inventory WHERE {where} "
                "ORDER BY inventory_id"
            ),
            {"v": value},
        ).all()
        return [Lot(int(r[0]), int(r[1]), int(r[2]), str(r[3] or ""), None, r[4], r[5],
                    bool(r[6])) for r in rows]

    def package_sizes(self, drug_ids: Iterable[int]) -> dict[int, int]:
        """Counting units per package of the products (1 when the module has none)."""
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(
            text(f"SELECT drug_id, units_per_package FROM {PRODUCT_STOCK_TABLE} "
                 "WHERE drug_id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        )
        sizes = {int(r[0]): max(int(r[1] or 1), 1) for r in rows}
        return {i: sizes.get(i, 1) for i in ids}

    def is_active_user(self, username: str) -> bool:
        """Whether ``username`` is an active OpenEMR user (compared byte for byte, as
        OpenEMR's sign-in compares it)."""
        row = self.conn.execute(
            text("SELECT 1 FROM users WHERE username = BINARY :u AND active = 1 LIMIT 1"),
            {"u": username},
        ).first()
        return row is not None

    def history(self, pid: int, encounter: int) -> list[HistoryRow]:
        rows = self.conn.execute(
            text(
                "SELECT h.id, h.mapping_id, h.drug_id, h.planned_quantity, h.old_actual, "
                "h.new_actual, h.old_reason, h.new_reason, h.old_notes, h.new_notes, "
                "h.old_lot_id, h.new_lot_id, h.source, h.changed_by, h.changed_at, d.name "
                "FROM aesthetic_inventory_usage_history h "
                "LEFT JOIN drugs d ON d.drug_id = h.drug_id "
                "WHERE h.pid = :p AND h.encounter = :e ORDER BY h.id"
            ),
            {"p": pid, "e": encounter},
        ).all()
        return [
            HistoryRow(int(r[0]), int(r[1]), int(r[2]), Decimal(r[3]),
                       None if r[4] is None else Decimal(r[4]),
                       None if r[5] is None else Decimal(r[5]), r[6], r[7], r[8], r[9],
                       None if r[10] is None else int(r[10]),
                       None if r[11] is None else int(r[11]), str(r[12]), str(r[13]), r[14],
                       str(r[15] or ""))
            for r in rows
        ]


def variance_rows(
    conn: Connection, since: date | None, until: date | None
) -> list[tuple[Any, ...]]:
    """Usage records with a visit date in [since, until]: (visit date, pid, encounter,
    mapping_id, drug_id, product, code_type, code, planned, actual, reason, unit cost,
    provider username). The report groups them in Python."""
    where = []
    params: dict[str, object] = {}
    if since is not None:
        where.append("fe.date >= :since")
        params["since"] = since
    if until is not None:
        where.append("fe.date < :until_next")
        params["until_next"] = until.fromordinal(until.toordinal() + 1)
    sql = (
        "SELECT DATE(fe.date), u.pid, u.encounter, u.mapping_id, u.drug_id, d.name, "
        "u.code_type, u.code, u.planned_quantity, u.actual_quantity, u.variance_reason, "
        "d.unit_cost, pr.username FROM aesthetic_inventory_usage u "
        "JOIN form_encounter fe ON fe.pid = u.pid AND fe.encounter = u.encounter "
        "JOIN drugs d ON d.drug_id = u.drug_id "
        "LEFT JOIN users pr ON pr.id = fe.provider_id "
        + ("WHERE " + " AND ".join(where) + " " if where else "")
        + "ORDER BY fe.date, u.pid, u.encounter, u.mapping_id"
    )
    return [tuple(r) for r in conn.execute(text(sql), params)]
