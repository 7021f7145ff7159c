"""The SQL of one reconcile (SQLAlchemy Core, bound parameters only).

Every read of a reconcile is one statement for the whole visit (never one per line,
mapping or lot), and every kind of write is one statement for all its rows, so the
number of statements of a reconcile does not grow with the size of the fee sheet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, case, column, table, text
from sqlalchemy.engine import Connection, CursorResult

from ..actuals import FeeSheetEdit
from ..domain import SELECTOR_PREFIX, HeldSale, Lot, parse_selector
from ..lot_order import LOT_KEY, UNAVAILABLE_WAREHOUSE_SEQ, RemovalStrategy
from ..planning import MappedLine, NewSale, RecordedActual, UsageRow, Visit, VisitFacts

_drug_inventory = table("drug_inventory", column("inventory_id"), column("on_hand"))
_drug_sales = table("drug_sales", column("sale_id"), column("quantity"))
_EDIT_KINDS = {1: "insert", 2: "update", 3: "delete"}


class ConsumptionRepository:
    """SQL of one reconcile, on the connection of the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- reads -----------------------------------------------------------------

    def lock_visit_and_held(
        self, pid: int, encounter: int, today: date | None = None
    ) -> tuple[Visit | None, list[HeldSale]]:
        """:meth:`visit_and_held` under locks (the reconcile's first statement)."""
        return self.visit_and_held(pid, encounter, today, lock=True)

    def visit_and_held(
        self, pid: int, encounter: int, today: date | None = None, *, lock: bool = False
    ) -> tuple[Visit | None, list[HeldSale]]:
        """The visit and its AUTO_PROC rows in one round trip; with ``lock`` the
        encounter row is locked first, then the rows (a preview reads the same rows
        with the same statement, without ``FOR UPDATE``).

        ``STRAIGHT_JOIN`` makes the encounter row the first row locked, so concurrent
        reconciles of one visit queue on it exactly as with a separate ``lock_visit``;
        the visit's sales are then locked (FOR UPDATE) through the ``(pid, encounter)``
        index. Duplicate encounter rows are all locked; the first one dates the visit.
        """
        rows = _driver(
            self.conn,
            "SELECT STRAIGHT_JOIN fe.id, DATE(fe.date), ds.sale_id, ds.selector, "
            "ds.drug_id, ds.inventory_id, ds.quantity, ds.billed "
            "FROM form_encounter fe LEFT JOIN drug_sales ds "
            "ON ds.pid = fe.pid AND ds.encounter = fe.encounter "
            "AND ds.selector LIKE %s "
            # no ORDER BY: it only cost a temporary table and a filesort on the server
            # (locks are taken in access order either way); the rows are few
            "WHERE fe.pid = %s AND fe.encounter = %s" + (" FOR UPDATE" if lock else ""),
            (SELECTOR_PREFIX + "%", pid, encounter),
        ).all()
        if not rows:
            return None, []
        rows.sort(key=lambda r: (r[0], r[2] or 0))  # encounter row id, then sale id
        first_id = rows[0][0]
        # a visit without a date is sold today, as sellDrug does with an empty sale date;
        # a zero or invalid date (text from the driver) is no date either
        day = rows[0][1]
        visit = Visit(pid, encounter, day if isinstance(day, date) else today or date.today())
        return visit, _held_from_rows(r[2:] for r in rows if r[0] == first_id and r[2])

    def lines_and_usage(
        self, pid: int, encounter: int
    ) -> tuple[list[MappedLine], dict[int, UsageRow]]:
        """The visit's mapped live lines and its usage records (see :meth:`visit_facts`)."""
        facts = self.visit_facts(pid, encounter)
        return facts.lines, facts.usage

    def visit_facts(self, pid: int, encounter: int) -> VisitFacts:
        """The visit's mapped live lines, its usage records with their recorded actuals,
        and the pending fee-sheet edits of its AUTO_PROC rows, in ONE round trip (a UNION
        ALL of three plain reads). A string column filled by one branch only is NULL in
        the others (drugs.name, the same column in two branches, is the one exception),
        so differing collations of OpenEMR's and the module's tables never meet."""
        rows = _driver(
            self.conn,
            "SELECT 0, b.id, b.units, pp.id, pp.drug_id, pp.code_type, pp.code, "
            "pp.quantity, d.allow_combining, d.dispensable, u.username, "
            "u.default_warehouse, d.name, NULL, NULL, NULL, NULL, NULL, NULL, "
            "d.drug_id IS NULL, COALESCE(d.active, 1), NULL, NULL, NULL, NULL, NULL "
            "FROM billing b "
            "JOIN procedure_products pp ON pp.code_type = b.code_type AND pp.code = b.code "
            # LEFT: a mapping to a missing product is reported, not silently skipped
            "LEFT JOIN drugs d ON d.drug_id = pp.drug_id "
            "LEFT JOIN users u ON u.id = b.user "
            "WHERE b.pid = %s AND b.encounter = %s AND b.activity = 1 "
            "UNION ALL SELECT 1, NULL, NULL, us.mapping_id, us.drug_id, NULL, NULL, NULL, "
            "d.allow_combining, d.dispensable, NULL, NULL, d.name, us.planned_quantity, "
            "us.required_units, us.allocated_units, us.shortage_units, us.code_type, us.code, "
            "NULL, NULL, us.actual_quantity, us.actual_lot_id, us.variance_reason, "
            "us.actual_notes, NULL "
            "FROM aesthetic_inventory_usage us LEFT JOIN drugs d ON d.drug_id = us.drug_id "
            "WHERE us.pid = %s AND us.encounter = %s "
            "UNION ALL SELECT 2, e.id, e.sale_id, e.mapping_id, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, "
            "CASE e.kind WHEN 'insert' THEN 1 WHEN 'update' THEN 2 ELSE 3 END, "
            "e.old_quantity, e.new_quantity, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "e.username "
            "FROM aesthetic_inventory_fee_sheet_edits e WHERE e.pid = %s AND e.encounter = %s "
            "ORDER BY 1, 2, 4",
            (pid, encounter, pid, encounter, pid, encounter),
        ).all()
        facts = VisitFacts(lines=[
            replace(_mapped_line(r[1:13]), product_missing=bool(r[19]),
                    product_active=bool(r[20]))
            for r in rows if r[0] == 0
        ])
        for r in rows:
            if r[0] == 1:
                mapping_id = int(r[3])
                facts.usage[mapping_id] = UsageRow(
                    mapping_id, int(r[4]), Decimal(r[13]), int(r[14]), int(r[15]),
                    int(r[16]), r[17], r[18],
                )
                if r[12] is not None:
                    facts.products[mapping_id] = (bool(r[8]), bool(r[9]), str(r[12]))
                if r[21] is not None:
                    facts.actuals[mapping_id] = RecordedActual(
                        Decimal(r[21]), None if r[22] is None else int(r[22]), r[23], r[24]
                    )
            elif r[0] == 2:
                facts.edits.append(FeeSheetEdit(
                    int(r[1]), int(r[3]), int(r[2]), _EDIT_KINDS.get(int(r[14]), "delete"),
                    None if r[15] is None else int(r[15]),
                    None if r[16] is None else int(r[16]), r[25],
                ))
        return facts

    def lock_lots(self, drug_ids: Iterable[int], extra_lot_ids: Iterable[int]) -> list[Lot]:
        """Lock the candidate lots of all needed products (and the lots returns go to)
        in one statement, ordered by inventory_id so every reconcile locks in the same
        order. Warehouse seqs are read separately: a locking join would lock the shared
        list_options rows and serialise every reconcile of the clinic."""
        drugs = sorted(set(drug_ids))
        drug_ids_given = bool(drugs)
        extra = sorted(set(extra_lot_ids)) or [-1]
        if not drugs:
            drugs = [-1]
        rows = self.conn.execute(
            text(
                f"SELECT inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number, "
                f"destroy_date IS NOT NULL, {LOT_KEY} FROM drug_inventory "
                "WHERE (drug_id IN :drugs AND destroy_date IS NULL AND on_hand <> 0) "
                "OR inventory_id IN :extra ORDER BY inventory_id FOR UPDATE"
            ).bindparams(bindparam("drugs", expanding=True), bindparam("extra", expanding=True)),
            {"drugs": drugs, "extra": extra},
        ).all()
        # returns alone need no lot order, so no warehouse read
        seqs = self.warehouse_seqs({r[3] or "" for r in rows}) if drug_ids_given else {}
        return [_lot(r, seqs.get(r[3] or "")) for r in rows]

    def candidate_lots(
        self,
        drug_ids: Iterable[int],
        extra_lot_ids: Iterable[int],
        *,
        needs: dict[int, int] | None = None,
        default_warehouse: str = "",
        sale_date: date | None = None,
        only_warehouse: str | None = None,
    ) -> list[Lot]:
        """The same lots as :meth:`lock_lots`, WITHOUT locks, with their warehouse seq
        joined in (a plain read locks nothing, so the join costs no contention).

        For a product in ``needs`` (``{drug_id: units}``, only when every requirement
        of it allows combining and all share ``default_warehouse``) only the usable
        lots up to the one that covers the units are read: a running total in sellDrug's
        order (default warehouse, seq, expiration) cut after whole groups of equal sort
        key, so the exact tie order (lot number, id) is still decided by the domain
        rules. The allocation is chosen on this snapshot; only the lots it touches are
        then locked, by the UPDATE that writes them, and re-checked under that lock
        (:meth:`adjust_lots_as_planned`).

        ``sale_date`` is the expiry cutoff of the cut (lots expiring on or before it are
        unusable: the sale date plus any blocked days); ``only_warehouse`` limits the
        cut to that warehouse (SELL_FROM_ONE_WAREHOUSE), so the running total counts
        only lots the sale may take."""
        needs = dict(needs or {})
        plain = sorted(set(drug_ids) - set(needs))
        extra = sorted(set(extra_lot_ids))
        columns = (
            "di.inventory_id, di.drug_id, di.on_hand, di.warehouse_id, di.expiration, "
            "di.lot_number, di.destroy_date IS NOT NULL AS destroyed, lo.seq, "
            f"{RemovalStrategy.lot_key_sql()} AS lot_key"
        )
        join = (
            "FROM drug_inventory di LEFT JOIN list_options lo "
            "ON lo.list_id = 'warehouse' AND lo.option_id = di.warehouse_id "
            "AND lo.activity = 1 "
        )
        # placeholders are %s (see _driver): params are listed in the order they appear
        branches: list[str] = []
        params: list[object] = []
        if plain or extra or not needs:  # a first save wants only the cut read below
            plain, extra = plain or [-1], extra or [-1]
            branches.append(
                f"SELECT {columns} {join}"
                f"WHERE (di.drug_id IN ({_marks(len(plain))}) AND di.destroy_date IS NULL "
                f"AND di.on_hand <> 0) OR di.inventory_id IN ({_marks(len(extra))})"
            )
            params += [*plain, *extra]
        if needs:
            cut = sorted(needs)
            wh = default_warehouse
            whens = " ".join(["WHEN %s THEN %s"] * len(cut))
            # sellDrug's order up to the lot-number tie (both windows); its only
            # parameter is wh, twice per use
            key = RemovalStrategy.group_sql("%s")
            branches.append(
                "SELECT c.inventory_id, c.drug_id, c.on_hand, c.warehouse_id, "
                "c.expiration, c.lot_number, c.destroyed, c.seq, c.lot_key "
                f"FROM (SELECT {columns}, "
                f"SUM(di.on_hand) OVER (PARTITION BY di.drug_id ORDER BY {key} "
                "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
                f"- SUM(di.on_hand) OVER (PARTITION BY di.drug_id, {key}) AS before_group, "
                f"CASE di.drug_id {whens} END AS need {join}"
                f"WHERE di.drug_id IN ({_marks(len(cut))}) AND di.destroy_date IS NULL "
                "AND di.on_hand > 0 AND (di.expiration IS NULL OR di.expiration > %s) "
                "AND (COALESCE(di.warehouse_id, '') = %s OR COALESCE(lo.seq, 0) <= "
                f"{UNAVAILABLE_WAREHOUSE_SEQ})"
                + (" AND di.warehouse_id = %s" if only_warehouse is not None else "")
                + ") c WHERE c.before_group < c.need"
            )
            params += [wh, wh, wh, wh]
            params += [x for drug in cut for x in (drug, needs[drug])]
            params += [*cut, sale_date or date.today(), wh]
            if only_warehouse is not None:
                params.append(only_warehouse)
        rows = _driver(self.conn, " UNION ALL ".join(branches), params).all()
        lots = {
            int(r[0]): _lot((*r[:7], r[8]), None if r[7] is None else int(r[7])) for r in rows
        }
        return [lots[k] for k in sorted(lots)]

    def lock_lots_by_id(
        self, lot_ids: Iterable[int], seqs: dict[str, int | None]
    ) -> list[Lot] | None:
        """Lock the given lots by primary key in inventory_id order (the order every
        reconcile locks in) and return their current state (after a failed
        :meth:`adjust_lots_as_planned`, which holds them already). The warehouse seq is taken
        from ``seqs`` (the snapshot's); a lot that moved to a warehouse not in it
        returns None, so the caller falls back to the full lock."""
        ids = sorted(set(lot_ids))
        if not ids:
            return []
        rows = self.conn.execute(
            text(
                f"SELECT inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number, "
                f"destroy_date IS NOT NULL, {LOT_KEY} FROM drug_inventory "
                "WHERE inventory_id IN :ids ORDER BY inventory_id FOR UPDATE"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        ).all()
        if any((r[3] or "") not in seqs for r in rows):
            return None
        return [_lot(r, seqs[r[3] or ""]) for r in rows]

    def warehouse_seqs(self, warehouse_ids: set[str]) -> dict[str, int | None]:
        """``list_options.seq`` of the active warehouses (LEFT JOIN semantics of sellDrug)."""
        if not warehouse_ids:
            return {}
        rows = self.conn.execute(
            text(
                "SELECT option_id, seq FROM list_options WHERE list_id = 'warehouse' "
                "AND activity = 1 AND option_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": sorted(warehouse_ids)},
        )
        return {r[0]: (None if r[1] is None else int(r[1])) for r in rows}

    # -- writes (one statement per kind) -----------------------------------------

    def adjust_lots(self, deltas: dict[int, int]) -> int:
        """``on_hand += delta`` for many lots in one UPDATE (negative delta = taken)."""
        deltas = {k: v for k, v in deltas.items() if v and k}
        if not deltas:
            return 0
        stmt = (
            _drug_inventory.update()
            .where(_drug_inventory.c.inventory_id.in_(sorted(deltas)))
            .values(
                on_hand=_drug_inventory.c.on_hand
                + case(deltas, value=_drug_inventory.c.inventory_id, else_=0)
            )
        )
        self.conn.execute(stmt)
        return 1

    def adjust_lots_as_planned(self, deltas: dict[int, int], expected: dict[int, Lot]) -> bool:
        """``on_hand += delta`` for the lots a plan touches, in one UPDATE that is also
        their lock: it locks them in inventory_id order (``ORDER BY``, the order every
        reconcile locks in) and checks each row, under its lock, against the state the
        plan was made on (``expected``). Returns True when every row was as expected.

        The deltas are applied unconditionally, so that on False the state each row had
        when it was locked is exactly its current state minus its delta (the caller
        re-plans and writes the difference). A row that differs calls
        ``LAST_INSERT_ID(inventory_id)``, which the server reports in the UPDATE's own
        reply (it is 0 for an UPDATE that never calls it): the check costs no extra
        round trip."""
        deltas = {k: v for k, v in deltas.items() if v and k}
        if not deltas:
            return True
        ids = sorted(deltas)
        adds: list[object] = []
        checks: list[object] = []
        for lot_id in ids:
            lot = expected[lot_id]
            adds += (lot_id, deltas[lot_id])
            checks += (lot_id, lot.on_hand, lot.drug_id, lot.warehouse_id, lot.expiration,
                       lot.lot_number, int(lot.destroyed))
        check = (
            "WHEN %s THEN on_hand = %s AND drug_id = %s AND COALESCE(warehouse_id, '') = %s "
            "AND expiration <=> %s AND lot_number <=> %s AND (destroy_date IS NOT NULL) = %s"
        )
        result = _driver(
            self.conn,
            "UPDATE drug_inventory SET on_hand = on_hand + CASE inventory_id "
            + " ".join(["WHEN %s THEN %s"] * len(ids))
            + " END + IF(CASE inventory_id " + " ".join([check] * len(ids))
            + " END, 0, 0 * LAST_INSERT_ID(inventory_id)) "
            f"WHERE inventory_id IN ({_marks(len(ids))}) ORDER BY inventory_id",
            [*adds, *checks, *ids],
        )
        # rowcount is rows found (SQLAlchemy's MySQL dialects set CLIENT.FOUND_ROWS): a
        # lot deleted meanwhile is a difference too
        return not result.lastrowid and result.rowcount == len(ids)

    def insert_sales(self, sales: Sequence[NewSale]) -> int:
        """Consumption rows as SPEC section 2 defines them, one multi-row INSERT."""
        if not sales:
            return 0
        self.conn.exec_driver_sql(
            "INSERT INTO drug_sales (drug_id, inventory_id, prescription_id, pid, encounter, "
            "user, sale_date, quantity, fee, billed, pricelevel, selector, trans_type) "
            # placeholders only: PyMySQL folds an executemany into one multi-row
            # INSERT only when RE_INSERT_VALUES matches (no literal in VALUES)
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (s.drug_id, s.inventory_id, 0, s.pid, s.encounter, s.user, s.sale_date,
                 s.quantity, 0, 0, "", s.selector, 1)
                for s in sales
            ],
        )
        return 1

    def shrink_sales(self, quantities: dict[int, int]) -> int:
        """Set new quantities of partly returned rows in one UPDATE."""
        if not quantities:
            return 0
        stmt = (
            _drug_sales.update()
            .where(_drug_sales.c.sale_id.in_(sorted(quantities)))
            .values(quantity=case(quantities, value=_drug_sales.c.sale_id))
        )
        self.conn.execute(stmt)
        return 1

    def delete_sales(self, sale_ids: Iterable[int]) -> int:
        ids = sorted(set(sale_ids))
        if not ids:
            return 0
        self.conn.execute(
            text("DELETE FROM drug_sales WHERE sale_id IN :ids AND billed = 0").bindparams(
                bindparam("ids", expanding=True)
            ),
            {"ids": ids},
        )
        return 1

    def upsert_usage(
        self, pid: int, encounter: int, rows: Sequence[UsageRow], now: datetime
    ) -> int:
        """Write changed usage records in one INSERT ... ON DUPLICATE KEY UPDATE."""
        if not rows:
            return 0
        self.conn.exec_driver_sql(
            "INSERT INTO aesthetic_inventory_usage (pid, encounter, mapping_id, drug_id, "
            "code_type, code, planned_quantity, required_units, allocated_units, "
            "shortage_units, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE drug_id = VALUES(drug_id), "
            "code_type = VALUES(code_type), code = VALUES(code), "
            "planned_quantity = VALUES(planned_quantity), "
            "required_units = VALUES(required_units), "
            "allocated_units = VALUES(allocated_units), "
            "shortage_units = VALUES(shortage_units), updated_at = VALUES(updated_at)",
            [
                (pid, encounter, u.mapping_id, u.drug_id, u.code_type, u.code,
                 u.planned_quantity, u.required_units, u.allocated_units, u.shortage_units,
                 now)
                for u in rows
            ],
        )
        return 1


def _marks(n: int) -> str:
    """``n`` DBAPI placeholders for an IN list."""
    return ", ".join(["%s"] * n)


def _driver(conn: Connection, sql: str, params: Sequence[object]) -> CursorResult[Any]:
    """Run SQL written with the driver's own ``%s`` placeholders (values still bound:
    PyMySQL escapes every parameter). The hot statements of a reconcile go this way
    because building, caching and binding a ``text()`` with dozens of (expanding)
    parameters cost a measurable part of a fee-sheet save; statement events (and so
    statement counting) still fire."""
    return conn.exec_driver_sql(sql, tuple(params))


def _lot(r: Sequence[Any], seq: int | None) -> Lot:
    """A Lot from (inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number,
    destroyed, lot key) and its warehouse seq. A zero or invalid expiration comes from
    PyMySQL as its text ('0000-00-00') and stays text: the domain compares it as PHP
    does; a driver that gives None for it cannot be told from NULL, hence the text."""
    key = r[7] if len(r) > 7 else None
    return Lot(
        inventory_id=int(r[0]),
        drug_id=int(r[1]),
        on_hand=int(r[2]),
        warehouse_id=str(r[3] or ""),
        warehouse_seq=seq,
        expiration=_expiration(r[4]),
        lot_number=r[5],
        destroyed=bool(r[6]),
        lot_key=None if key is None else bytes(key),
    )


def _expiration(value: object) -> date | str | None:
    """A DATE column as the domain takes it: a date, None, or an invalid date's text."""
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def _mapped_line(r: Sequence[Any]) -> MappedLine:
    """A MappedLine from (line id, units, mapping id, drug id, code type, code, per unit,
    allow_combining, dispensable, username, default warehouse, product name)."""
    return MappedLine(
        line_id=int(r[0]),
        units=None if r[1] is None else int(r[1]),
        mapping_id=int(r[2]),
        drug_id=int(r[3]),
        code_type=str(r[4] or ""),
        code=str(r[5] or ""),
        per_unit=Decimal(r[6]),
        allow_combining=bool(r[7]),
        dispensable=bool(r[8]),
        username=str(r[9]) if r[9] else None,
        default_warehouse=str(r[10] or ""),
        product_name=str(r[11] or ""),
    )


def _held_from_rows(rows: Iterable[Sequence[Any]]) -> list[HeldSale]:
    """HeldSales from (sale_id, selector, drug_id, inventory_id, quantity, billed) rows;
    a hand-edited selector that is not ours is left alone."""
    held = []
    for r in rows:
        mapping_id = parse_selector(r[1])
        if mapping_id is None:
            continue
        held.append(
            HeldSale(int(r[0]), mapping_id, int(r[2]), int(r[3]), int(r[4]), bool(r[5]))
        )
    return held
