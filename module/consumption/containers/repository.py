"""Every SQL statement of the containers package, on the caller's connection.

Lock order (the stock package's, extended): product rows (``drugs``, by the stock
repository), then lots in ascending ``inventory_id``, then containers in ascending
``id``. Containers are only ever locked after the lots they came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.engine import Connection

from ..lot_order import Lot
from ..repositories.lots import lot_from_row
from .domain import Container, NewContainer, PackageRule
from .engine import SaleDraw

CONTAINER = "aesthetic_inventory_container"
DRAW = "aesthetic_inventory_container_draw"
TABLES: tuple[str, ...] = (CONTAINER, DRAW)

# What a container's draws hold: the draw rows are the one record of it (a draw adds a
# row, a return shrinks or deletes one), so a draw costs one INSERT and no UPDATE.
DRAWN = f"(SELECT COALESCE(SUM(x.units), 0) FROM {DRAW} x WHERE x.container_id = c.id)"
_COLUMNS = (
    "c.id, c.drug_id, c.inventory_id, c.warehouse_id, c.opened_at, c.beyond_use_at, c.units, "
    f"{DRAWN}, c.units_wasted, c.closed_at, c.close_reason, c.single_patient, "
    "c.opened_pid, c.opened_encounter"
)


# An open container in one column of a reconcile's read (its lot gives the product and
# the lot; open: no close time or reason): fewer columns are less work for the driver on
# every reconcile of such a product. The warehouse id is last (it could hold a '|').
_PACKED = (
    "IF(c.id IS NULL, NULL, CONCAT_WS('|', c.id, CAST(c.opened_at AS CHAR), "
    "COALESCE(CAST(c.beyond_use_at AS CHAR), ''), c.units, "
    f"{DRAWN}, c.units_wasted, c.single_patient, c.opened_pid, c.opened_encounter, "
    "c.warehouse_id))"
)


def _packed(text: str, drug_id: int, inventory_id: int) -> Container:
    """A :data:`_PACKED` container of the lot ``inventory_id`` of ``drug_id``."""
    cid, opened, beyond, units, drawn, wasted, single, pid, enc, warehouse = text.split("|", 9)
    return Container(int(cid), drug_id, inventory_id, warehouse, datetime.fromisoformat(opened),
                     datetime.fromisoformat(beyond) if beyond else None, int(units),
                     int(drawn), int(wasted), None, "", single == "1", int(pid), int(enc))


def _in(sql: str, *names: str) -> TextClause:
    return text(sql).bindparams(*(bindparam(n, expanding=True) for n in names))


def _marks(values: Sequence[object]) -> str:
    return ", ".join(["%s"] * len(values))


def _container(r: Sequence[Any]) -> Container:
    return Container(int(r[0]), int(r[1]), int(r[2]), str(r[3] or ""), r[4], r[5], int(r[6]),
                     int(r[7]), int(r[8]), r[9], str(r[10] or ""), bool(r[11]), int(r[12]),
                     int(r[13]))


def fingerprint(containers: Iterable[Container], inventory_id: int) -> str | None:
    """What :meth:`ContainerRepository.insert_visit_draws` compares a lot's open
    containers with: ``id:units left`` of those holding units, by id (None: none)."""
    held = sorted((c.id, c.units_left) for c in containers
                  if c.inventory_id == inventory_id and c.is_open and c.units_left > 0)
    return ",".join(f"{i}:{n}" for i, n in held) or None


@dataclass(frozen=True)
class ContainerLine:
    """A container as the ``containers`` command lists it."""

    container: Container
    product: str
    counting_unit: str
    lot_number: str
    patients: int


@dataclass(frozen=True)
class PatientDraw:
    """One patient (or stock use) served from a container."""

    container_id: int
    pid: int
    encounter: int
    patient: str
    units: int
    drawn_at: datetime
    sale_id: int


@dataclass(frozen=True)
class VisitDraw:
    """What one mapping of a visit drew from one container (the review page)."""

    selector: str
    container_id: int
    units: int
    units_left: int
    beyond_use_at: datetime | None
    closed_at: datetime | None
    diluent_ml: Decimal | None
    package_size: int
    unit: str
    inventory_id: int = 0


@dataclass(frozen=True)
class NewDraw:
    container_id: int
    sale_id: int
    pid: int
    encounter: int
    units: int
    drawn_at: datetime


@dataclass(frozen=True)
class WasteRow:
    """A closed container with waste, for the waste report."""

    container_id: int
    drug_id: int
    product: str
    counting_unit: str
    provider: str
    reason: str
    units: int
    wasted: int
    unit_cost: Decimal
    closed_at: datetime


class ContainerRepository:
    """SQL of containers inside one unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- products --------------------------------------------------------------------

    def package_rules(self, drug_ids: Iterable[int]) -> dict[int, PackageRule]:
        """How each product is counted (a product without a stock row: in packages)."""
        ids = sorted(set(drug_ids))
        if not ids:
            return {}
        rows = self.conn.execute(_in(
            "SELECT d.drug_id, d.name, COALESCE(ps.counting_unit, ''), "
            "COALESCE(ps.package_unit, ''), COALESCE(ps.units_per_package, 1), "
            "ps.beyond_use_hours, ps.diluent_ml, COALESCE(ps.single_patient, 0) "
            "FROM drugs d LEFT JOIN aesthetic_inventory_product_stock ps "
            "ON ps.drug_id = d.drug_id WHERE d.drug_id IN :ids", "ids"), {"ids": ids})
        return {int(r[0]): PackageRule(
            int(r[0]), str(r[1] or ""), str(r[2]), str(r[3]), int(r[4]),
            None if r[5] is None else int(r[5]), None if r[6] is None else Decimal(r[6]),
            bool(r[7])) for r in rows}

    def default_warehouse(self) -> str:
        """The default warehouse (list_options is_default), else ''."""
        r = self.conn.execute(text(
            "SELECT option_id FROM list_options WHERE list_id = 'warehouse' AND activity = 1 "
            "ORDER BY is_default DESC, seq, option_id LIMIT 1")).first()
        return "" if r is None else str(r[0])

    # -- containers ------------------------------------------------------------------

    def lock_open(self, drug_ids: Iterable[int], *, lock: bool = True,
                  also: Iterable[int] = ()) -> list[Container]:
        """The open containers of the products that still hold units (an emptied vial
        stays open until beyond use but has nothing to give), and the containers
        ``also`` names (where returns go), locked in id order after their lots
        (``lock=False``: a preview's plain read). The driver's own placeholders: this
        runs in every reconcile of such a product."""
        ids = sorted(set(drug_ids))
        extra = sorted(set(also)) or [-1]
        if not ids:
            return []
        rows = self.conn.exec_driver_sql(
            f"SELECT {_COLUMNS} FROM {CONTAINER} c WHERE c.drug_id IN "
            f"({', '.join(['%s'] * len(ids))}) AND c.closed_at IS NULL "
            f"AND (c.units - c.units_wasted > {DRAWN} "
            f"OR c.id IN ({', '.join(['%s'] * len(extra))})) ORDER BY c.id"
            + (" FOR UPDATE" if lock else ""), (*ids, *extra))
        return [_container(r) for r in rows]

    def lots_and_open(self, drug_ids: Iterable[int], extra_lots: Iterable[int],
                      counted: Iterable[int], also: Iterable[int] = (), *,
                      lock: bool = False) -> tuple[list[Lot], list[Container]]:
        """A reconcile's one read of its stock: the candidate lots of the products taken
        and the lots returns go to (ascending inventory_id, the engine's order), each with
        its warehouse seq (a subquery: no list_options row is locked) and, joined, its
        open containers of the counted products that hold units or take a return
        (``also``). Without ``lock`` it is the snapshot a plan is made on (the lot UPDATE
        then locks and checks the lots); with ``lock`` each lot is locked and, right after
        it, its containers. A vial whose lot is no candidate (it was emptied or destroyed
        by another screen) is not drawn from."""
        drugs = sorted(set(drug_ids)) or [-1]
        extra = sorted(set(extra_lots)) or [-1]
        boxes = sorted(set(counted)) or [-1]
        others = sorted(set(also)) or [-1]
        rows = self.conn.exec_driver_sql(
            "SELECT di.inventory_id, di.drug_id, di.on_hand, di.warehouse_id, di.expiration, "
            "di.lot_number, di.destroy_date IS NOT NULL, "
            "WEIGHT_STRING(di.lot_number AS CHAR(64)), (SELECT lo.seq FROM list_options lo "
            "WHERE lo.list_id = 'warehouse' AND lo.option_id = di.warehouse_id "
            f"AND lo.activity = 1 LIMIT 1), {_PACKED} FROM drug_inventory di "
            f"LEFT JOIN {CONTAINER} c ON c.inventory_id = di.inventory_id "
            f"AND c.closed_at IS NULL AND c.drug_id IN ({_marks(boxes)}) "
            f"AND (c.units - c.units_wasted > {DRAWN} OR c.id IN ({_marks(others)})) "
            f"WHERE (di.drug_id IN ({_marks(drugs)}) AND di.destroy_date IS NULL "
            f"AND di.on_hand <> 0) OR di.inventory_id IN ({_marks(extra)}) "
            "ORDER BY di.inventory_id, c.id" + (" FOR UPDATE" if lock else ""),
            (*boxes, *others, *drugs, *extra))
        lots: dict[int, Lot] = {}
        found: list[Container] = []
        for r in rows:
            if int(r[0]) not in lots:
                lots[int(r[0])] = lot_from_row(r[:8], None if r[8] is None else int(r[8]))
            if r[9] is not None:
                found.append(_packed(str(r[9]), int(r[1]), int(r[0])))
        return list(lots.values()), found

    def get(self, container_id: int, *, lock: bool = False) -> Container | None:
        r = self.conn.execute(text(
            f"SELECT {_COLUMNS} FROM {CONTAINER} c WHERE c.id = :i"
            + (" FOR UPDATE" if lock else "")), {"i": container_id}).first()
        return None if r is None else _container(r)

    def insert(self, new: NewContainer) -> int:
        """Open a container (the driver's own placeholders: a reconcile opens vials)."""
        result = self.conn.exec_driver_sql(
            f"INSERT INTO {CONTAINER} (drug_id, inventory_id, warehouse_id, opened_at, "
            "beyond_use_at, units, single_patient, opened_pid, opened_encounter) VALUES "
            "(%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (new.drug_id, new.inventory_id, new.warehouse_id, new.opened_at,
             new.beyond_use_at, new.units, int(new.single_patient), new.visit.pid,
             new.visit.encounter))
        return int(result.lastrowid)

    def insert_draws(self, draws: Sequence[NewDraw]) -> None:
        if draws:
            self.conn.execute(text(
                f"INSERT INTO {DRAW} (container_id, sale_id, pid, encounter, units, drawn_at) "
                "VALUES (:c, :s, :p, :e, :u, :t)"),
                [{"c": d.container_id, "s": d.sale_id, "p": d.pid, "e": d.encounter,
                  "u": d.units, "t": d.drawn_at} for d in draws])

    def draws_of_sales(self, sale_ids: Iterable[int]) -> list[SaleDraw]:
        """The recorded draws of these drug_sales rows (a reconcile's returns)."""
        ids = sorted(set(sale_ids))
        if not ids:
            return []
        rows = self.conn.execute(_in(
            f"SELECT id, sale_id, container_id, units FROM {DRAW} WHERE sale_id IN :ids "
            "ORDER BY id", "ids"), {"ids": ids})
        return [SaleDraw(int(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def insert_visit_draws(self, draws: Sequence[tuple[int, str, int, int, int]], *,
                           pid: int, encounter: int, drawn_at: datetime, first_sale_id: int,
                           seen: Sequence[Container] | None = None,
                           opened: Sequence[int] = ()) -> int:
        """Draw rows of a reconcile, (container, selector, lot, units, position) each,
        against the AUTO_PROC row the engine's one INSERT just wrote for that mapping and
        lot: the row at ``position`` of that INSERT, whose ids run from ``first_sale_id``
        in steps of ``auto_increment_increment`` (on a Galera cluster another node's rows
        of the visit may be newer: they are never taken), found by the draw INSERT itself
        (no read back). Returns the rows inserted (a row not found is not inserted).

        ``seen``: the open containers as the plan read them, without locks. The INSERT
        is then the check of that read: a draw from an open container is inserted only
        while the container still holds what the plan saw, a draw from a container this
        visit ``opened`` only while the lot's other open containers are as the plan saw
        them (what the lot has sealed). The caller holds the lots' locks (every writer
        of a container holds its lot's) and the INSERT reads the committed state, so
        fewer rows than draws means the plan was made on stale containers."""
        if not draws:
            return 0
        mine = sorted(set(opened)) or [-1]
        left = {c.id: c.units_left for c in seen or ()}
        box = (f" HAVING (SELECT c.units - c.units_wasted - {DRAWN} FROM {CONTAINER} c "
               "WHERE c.id = %s AND c.closed_at IS NULL) <=> %s")
        lot = (f" HAVING (SELECT GROUP_CONCAT(c.id, ':', c.units - c.units_wasted - {DRAWN} "
               f"ORDER BY c.id) FROM {CONTAINER} c WHERE c.inventory_id = %s "
               f"AND c.closed_at IS NULL AND c.units - c.units_wasted > {DRAWN} "
               f"AND c.id NOT IN ({_marks(mine)})) <=> %s")
        parts: list[str] = []
        params: list[object] = []
        for container_id, selector, inv, units, position in draws:
            params += [container_id, pid, encounter, units, drawn_at, first_sale_id, position,
                       pid, encounter, selector, inv]
            check = ""
            if seen is not None and container_id in opened:
                check = lot
                params += [inv, *mine, fingerprint(seen, inv)]
            elif seen is not None:
                check = box
                params += [container_id, left.get(container_id)]
            parts.append("SELECT %s, sale_id, %s, %s, %s, %s FROM drug_sales WHERE "
                         "sale_id = %s + %s * @@auto_increment_increment AND pid = %s "
                         "AND encounter = %s AND selector = %s AND inventory_id = %s" + check)
        result = self.conn.exec_driver_sql(
            f"INSERT INTO {DRAW} (container_id, sale_id, pid, encounter, units, drawn_at) "
            + " UNION ALL ".join(parts), tuple(params))
        return int(result.rowcount)

    def vials_of_visit(self, pid: int, encounter: int) -> list[int]:
        """The containers a visit's rows draw from (a named lot's vial is drawn first)."""
        return [int(r[0]) for r in self.conn.execute(text(
            f"SELECT DISTINCT container_id FROM {DRAW} WHERE pid = :p AND encounter = :e "
            "ORDER BY container_id"), {"p": pid, "e": encounter})]

    def set_draw_units(self, units: dict[int, int]) -> None:
        """Shrink draw rows (draw id -> units left; 0 deletes the row)."""
        gone = sorted(k for k, v in units.items() if v <= 0)
        if gone:
            self.conn.execute(_in(f"DELETE FROM {DRAW} WHERE id IN :ids", "ids"), {"ids": gone})
        for draw_id, n in sorted(units.items()):
            if n > 0:
                self.conn.execute(text(f"UPDATE {DRAW} SET units = :n WHERE id = :i"),
                                  {"n": n, "i": draw_id})

    def close(self, container_id: int, *, wasted: int, reason: str, closed_at: datetime,
              waste_sale_id: int | None, user: str) -> None:
        self.conn.execute(text(
            f"UPDATE {CONTAINER} SET units_wasted = units_wasted + :w, closed_at = :t, "
            "close_reason = :r, waste_sale_id = :s, closed_by = :u WHERE id = :i"),
            {"w": wasted, "t": closed_at, "r": reason, "s": waste_sale_id, "u": user[:255],
             "i": container_id})

    def due_for_waste(self, before: datetime, limit: int = 1000) -> list[Container]:
        """Open containers whose beyond-use time is at or before ``before`` (no lock:
        each is locked and checked again in its own transaction)."""
        rows = self.conn.execute(text(
            f"SELECT {_COLUMNS} FROM {CONTAINER} c WHERE c.closed_at IS NULL "
            "AND c.beyond_use_at <= :b ORDER BY c.beyond_use_at, c.id LIMIT :n"),
            {"b": before, "n": limit})
        return [_container(r) for r in rows]

    # -- reads for the commands and reports ------------------------------------------------

    def lines(self, *, drug_id: int | None, include_closed: bool,
              limit: int = 10000) -> list[ContainerLine]:
        rows = self.conn.execute(text(
            f"SELECT {_COLUMNS}, d.name, COALESCE(ps.counting_unit, ''), "
            "COALESCE(di.lot_number, ''), (SELECT COUNT(DISTINCT y.pid, y.encounter) "
            f"FROM {DRAW} y WHERE y.container_id = c.id AND y.pid > 0) "
            f"FROM {CONTAINER} c JOIN drugs d ON d.drug_id = c.drug_id "
            "LEFT JOIN aesthetic_inventory_product_stock ps ON ps.drug_id = c.drug_id "
            "LEFT JOIN drug_inventory di ON di.inventory_id = c.inventory_id "
            "WHERE (:d IS NULL OR c.drug_id = :d) AND (:all = 1 OR c.closed_at IS NULL) "
            "ORDER BY c.opened_at, c.id LIMIT :n"),
            {"d": drug_id, "all": int(include_closed), "n": limit})
        return [ContainerLine(_container(r), str(r[14] or ""), str(r[15]), str(r[16]),
                              int(r[17])) for r in rows]

    def draws_of(self, container_ids: Iterable[int]) -> list[PatientDraw]:
        ids = sorted(set(container_ids))
        if not ids:
            return []
        rows = self.conn.execute(_in(
            "SELECT x.container_id, x.pid, x.encounter, "
            "TRIM(CONCAT(COALESCE(p.fname, ''), ' ', COALESCE(p.lname, ''))), x.units, "
            f"x.drawn_at, x.sale_id FROM {DRAW} x "
            "LEFT JOIN patient_data p ON p.pid = x.pid AND x.pid > 0 "
            "WHERE x.container_id IN :ids ORDER BY x.container_id, x.drawn_at, x.id", "ids"),
            {"ids": ids})
        return [PatientDraw(int(r[0]), int(r[1]), int(r[2]), str(r[3] or ""), int(r[4]), r[5],
                            int(r[6])) for r in rows]

    def visit_draws(self, pid: int, encounter: int) -> list[VisitDraw]:
        """Each container a visit's AUTO_PROC rows drew from, per mapping (the page)."""
        rows = self.conn.execute(text(
            "SELECT ds.selector, c.id, SUM(x.units), c.units, c.units_wasted, "
            f"{DRAWN}, c.beyond_use_at, c.closed_at, ps.diluent_ml, ps.units_per_package, "
            f"COALESCE(ps.counting_unit, ''), c.inventory_id FROM {DRAW} x "
            "JOIN drug_sales ds ON ds.sale_id = x.sale_id "
            f"JOIN {CONTAINER} c ON c.id = x.container_id "
            "LEFT JOIN aesthetic_inventory_product_stock ps ON ps.drug_id = c.drug_id "
            "WHERE x.pid = :p AND x.encounter = :e "
            "GROUP BY ds.selector, c.id, c.units, c.units_wasted, c.beyond_use_at, "
            "c.closed_at, ps.diluent_ml, ps.units_per_package, ps.counting_unit, "
            "c.inventory_id "
            "ORDER BY c.id"), {"p": pid, "e": encounter})
        return [VisitDraw(str(r[0] or ""), int(r[1]), int(r[2]), int(r[3]) - int(r[5])
                          - int(r[4]), r[6], r[7],
                          None if r[8] is None else Decimal(r[8]), int(r[9] or 1), str(r[10]),
                          int(r[11]))
                for r in rows]

    def containers_of_sales(self, sale_ids: Iterable[int]) -> dict[int, list[int]]:
        """sale_id -> the containers its units came from (for ``recall --lot``)."""
        ids = sorted(set(sale_ids))
        if not ids:
            return {}
        out: dict[int, list[int]] = {}
        for r in self.conn.execute(_in(
                f"SELECT sale_id, container_id FROM {DRAW} WHERE sale_id IN :ids "
                "ORDER BY sale_id, container_id", "ids"), {"ids": ids}):
            out.setdefault(int(r[0]), []).append(int(r[1]))
        return out

    def waste_rows(self, start: datetime, end: datetime) -> list[WasteRow]:
        """Containers closed in [start, end) with the provider of their first visit and
        the unit cost (the lot's, else the product's average)."""
        rows = self.conn.execute(text(
            "SELECT c.id, c.drug_id, d.name, COALESCE(ps.counting_unit, ''), "
            "COALESCE(NULLIF(TRIM(CONCAT(COALESCE(u.fname, ''), ' ', COALESCE(u.lname, ''))), "
            "''), u.username, ''), c.close_reason, c.units, c.units_wasted, "
            "COALESCE(NULLIF(di.unit_cost, 0), ps.average_cost, 0), c.closed_at "
            f"FROM {CONTAINER} c JOIN drugs d ON d.drug_id = c.drug_id "
            "LEFT JOIN aesthetic_inventory_product_stock ps ON ps.drug_id = c.drug_id "
            "LEFT JOIN drug_inventory di ON di.inventory_id = c.inventory_id "
            "LEFT JOIN form_encounter fe ON fe.pid = c.opened_pid "
            "AND fe.encounter = c.opened_encounter AND c.opened_pid > 0 "
            "LEFT JOIN users u ON u.id = fe.provider_id "
            "WHERE c.closed_at >= :s AND c.closed_at < :e ORDER BY c.closed_at, c.id"),
            {"s": start, "e": end})
        return [WasteRow(int(r[0]), int(r[1]), str(r[2] or ""), str(r[3]), str(r[4] or ""),
                         str(r[5] or ""), int(r[6]), int(r[7]), Decimal(str(r[8] or 0)), r[9])
                for r in rows]

    def opened_units(self, start: datetime, end: datetime) -> dict[int, int]:
        """Units opened per product in [start, end) (the waste share's denominator)."""
        rows = self.conn.execute(text(
            f"SELECT drug_id, SUM(units) FROM {CONTAINER} WHERE opened_at >= :s "
            "AND opened_at < :e GROUP BY drug_id"), {"s": start, "e": end})
        return {int(r[0]): int(r[1]) for r in rows}

    def visit_time(self, pid: int, encounter: int) -> datetime | None:
        """``form_encounter.date`` of a visit (its date-time), else None."""
        r = self.conn.execute(text(
            "SELECT date FROM form_encounter WHERE pid = :p AND encounter = :e "
            "ORDER BY id LIMIT 1"), {"p": pid, "e": encounter}).first()
        return r[0] if r is not None and isinstance(r[0], datetime) else None
