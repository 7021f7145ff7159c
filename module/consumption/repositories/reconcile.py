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

from ...stock.triggers import LEDGER_TABLE
from ...stock.usable import lot_cost_sql, product_stock_join_sql
from ..actuals import FeeSheetEdit
from ..domain import SELECTOR_PREFIX, HeldSale, parse_selector
from ..planning import MappedLine, NewSale, RecordedActual, UsageRow, Visit, VisitFacts
from .lots import LotRepository, driver_sql

_drug_sales = table("drug_sales", column("sale_id"), column("quantity"))
_EDIT_KINDS = {1: "insert", 2: "update", 3: "delete"}
# The package settings of the product ``d`` when it is counted in units (a unit and a
# package above one), else NULL: parsed by containers.step.rules_from_settings
_COUNTED = (
    "(SELECT CONCAT_WS('|', ps.units_per_package, COALESCE(ps.beyond_use_hours, ''), "
    "ps.single_patient, COALESCE(ps.diluent_ml, ''), ps.counting_unit, ps.package_unit) "
    "FROM aesthetic_inventory_product_stock ps WHERE ps.drug_id = d.drug_id "
    "AND ps.counting_unit <> '' AND ps.units_per_package > 1)"
)


class ConsumptionRepository(LotRepository):
    """SQL of one reconcile, on the connection of the caller's transaction (the lot
    reads and writes are :class:`~.lots.LotRepository`'s)."""

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
        rows = driver_sql(
            self.conn,
            "SELECT STRAIGHT_JOIN fe.id, fe.date, ds.sale_id, ds.selector, "
            "ds.drug_id, ds.inventory_id, ds.quantity, ds.billed, "
            # the lot's number, for the movements of a return (a subquery: FOR UPDATE
            # locks the rows of the outer query only, so the lot is not locked here)
            "(SELECT di.lot_number FROM drug_inventory di "
            "WHERE di.inventory_id = ds.inventory_id) "
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
        rows = sorted(rows, key=lambda r: (r[0], r[2] or 0))  # encounter row, then sale
        first_id = rows[0][0]
        mine = [int(r[2]) for r in rows if r[0] == first_id and r[2]]
        seen = (len(mine), sum(mine))  # every row the selector matched (.visit_facts)
        # a visit without a date is sold today, as sellDrug does with an empty sale date;
        # a zero or invalid date (text from the driver) is no date either
        when = rows[0][1]
        if isinstance(when, datetime):  # the time dates an opened container (containers)
            visit = Visit(pid, encounter, when.date(), when, seen)
        else:
            visit = Visit(pid, encounter, when if isinstance(when, date) else today or date.today(),
                          None, seen)
        return visit, _held_from_rows(r[2:] for r in rows if r[0] == first_id and r[2])

    def lines_and_usage(
        self, pid: int, encounter: int
    ) -> tuple[list[MappedLine], dict[int, UsageRow]]:
        """The visit's mapped live lines and its usage records (see :meth:`visit_facts`)."""
        facts = self.visit_facts(pid, encounter)
        return facts.lines, facts.usage

    # long: one round trip; the four UNION ALL branches' columns must line up, so together
    def visit_facts(self, pid: int, encounter: int) -> VisitFacts:
        """The visit's mapped live lines, its usage records with their recorded actuals,
        the pending fee-sheet edits of its AUTO_PROC rows, and the count and id sum of
        those rows, in ONE round trip (a UNION ALL of four plain reads). A string column
        filled by one branch only is NULL in the others (drugs.name, the same column in
        two branches, is the one exception), so differing collations of OpenEMR's and
        the module's tables never meet.

        The last branch lets a reconcile check that this read's snapshot holds the rows
        its locking read saw (:attr:`Visit.auto_rows`): on one server the visit's lock
        guarantees it; on a Galera cluster the lock is local to one node and another
        node's reconcile of the visit can commit in between."""
        rows = driver_sql(
            self.conn,
            "SELECT 0, b.id, b.units, pp.id, pp.drug_id, pp.code_type, pp.code, "
            "pp.quantity, d.allow_combining, d.dispensable, u.username, "
            "u.default_warehouse, d.name, NULL, NULL, NULL, NULL, NULL, NULL, "
            "d.drug_id IS NULL, COALESCE(d.active, 1), NULL, NULL, NULL, NULL, NULL, "
            f"{_COUNTED} "
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
            f"us.actual_notes, NULL, {_COUNTED} "
            "FROM aesthetic_inventory_usage us LEFT JOIN drugs d ON d.drug_id = us.drug_id "
            "WHERE us.pid = %s AND us.encounter = %s "
            "UNION ALL SELECT 2, e.id, e.sale_id, e.mapping_id, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, "
            "CASE e.kind WHEN 'insert' THEN 1 WHEN 'update' THEN 2 ELSE 3 END, "
            "e.old_quantity, e.new_quantity, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "e.username, NULL "
            "FROM aesthetic_inventory_fee_sheet_edits e WHERE e.pid = %s AND e.encounter = %s "
            "UNION ALL SELECT 3, COUNT(*), COALESCE(SUM(ds.sale_id), 0), NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM drug_sales ds "
            "WHERE ds.pid = %s AND ds.encounter = %s AND ds.selector LIKE %s "
            "ORDER BY 1, 2, 4",
            (pid, encounter, pid, encounter, pid, encounter, pid, encounter,
             SELECTOR_PREFIX + "%"),
        ).all()
        facts = VisitFacts(lines=[
            replace(_mapped_line(r[1:13]), product_missing=bool(r[19]),
                    product_active=bool(r[20]))
            for r in rows if r[0] == 0
        ])
        # products counted in units (module/containers): their takes come from containers
        facts.counted.update((int(r[4]), str(r[26])) for r in rows if r[0] < 2 and r[26])
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
            elif r[0] == 3:
                facts.auto_rows = (int(r[1]), int(r[2]))
            elif r[0] == 2:
                facts.edits.append(FeeSheetEdit(
                    int(r[1]), int(r[3]), int(r[2]), _EDIT_KINDS.get(int(r[14]), "delete"),
                    None if r[15] is None else int(r[15]),
                    None if r[16] is None else int(r[16]), r[25],
                ))
        return facts

    def own_rows(self, pid: int, encounter: int, first_id: int
                 ) -> list[tuple[int, str, int, int]]:
        """(sale_id, selector, inventory_id, quantity) of the visit's AUTO_PROC rows this
        transaction inserted from ``first_id`` on (a stale first plan's rows).

        A plain (consistent) read: it sees this transaction's rows and those committed
        before its snapshot, never a row committed since. On a Galera cluster the
        visit's lock is local to one node, so another node's reconcile of the same visit
        may have committed rows that are in the snapshot but were not locked as held;
        their ids are below ``first_id`` (a node's auto-increment counter moves past
        every id it applies), so they are never taken for ours."""
        rows = driver_sql(
            self.conn,
            "SELECT sale_id, selector, inventory_id, quantity FROM drug_sales "
            "WHERE pid = %s AND encounter = %s AND selector LIKE %s AND sale_id >= %s",
            (pid, encounter, SELECTOR_PREFIX + "%", first_id),
        ).all()
        return [(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

    # -- writes (one statement per kind) -----------------------------------------

    def insert_sales(self, sales: Sequence[NewSale], *, ledgered: int | None = None) -> int:
        """Consumption rows as SPEC section 2 defines them, one multi-row INSERT, and
        the ledger rows of the first ``ledgered`` of them (default: all; the rest are
        drawn from containers, whose draw rows ledger them:
        :mod:`..containers.triggers`). Returns the first new ``sale_id`` (0 when
        ``sales`` is empty: nothing is sent)."""
        if not sales:
            return 0
        # one statement, built here rather than left to the driver's executemany
        # folding: its first id and step then name exactly its rows (.ledger_issues)
        row = "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        result = self.conn.exec_driver_sql(
            "INSERT INTO drug_sales (drug_id, inventory_id, prescription_id, pid, encounter, "
            "user, sale_date, quantity, fee, billed, pricelevel, selector, trans_type) "
            "VALUES " + ", ".join([row] * len(sales)),
            tuple(
                value
                for s in sales
                for value in (s.drug_id, s.inventory_id, 0, s.pid, s.encounter, s.user,
                              s.sale_date, s.quantity, 0, 0, "", s.selector, 1)
            ),
        )
        first_id = int(result.lastrowid)
        count = len(sales) if ledgered is None else ledgered
        if count:
            self.ledger_issues(sales[0].pid, sales[0].encounter, first_id, count)
        return first_id

    def ledger_issues(self, pid: int, encounter: int, first_id: int, count: int) -> None:
        """The stock ledger's ISSUE rows of the ``count`` rows just inserted from
        ``first_id`` on, in one INSERT ... SELECT with the lots' unit cost joined once
        (issue 21: the ``drug_sales`` insert observer no longer runs a unit-cost subquery
        per row; it leaves AUTO_PROC inserts to this).

        One multi-row INSERT is a "simple insert": its ids are consecutive in steps of
        ``auto_increment_increment`` (1 on one server, the cluster size on Galera, where
        the other nodes' ids fall between ours). The SELECT of an INSERT ... SELECT reads
        the newest rows, so a row of the same visit that another node committed
        meanwhile is excluded by id, not by the visit's lock (local to one node)."""
        driver_sql(
            self.conn,
            f"INSERT INTO {LEDGER_TABLE} (movement, inventory_id, drug_id, quantity, "
            "unit_cost, reference_type, reference_id, sale_id, user, notes) "
            "SELECT 'ISSUE', ds.inventory_id, ds.drug_id, -ds.quantity, "
            f"COALESCE({lot_cost_sql()}, 0), 'visit', CONCAT(ds.pid, '.', ds.encounter), "
            "ds.sale_id, COALESCE(ds.user, ''), ds.selector FROM drug_sales ds "
            # the lot's cost with the product's as fallback, as the stock observers do
            "LEFT JOIN drug_inventory di ON di.inventory_id = ds.inventory_id "
            f"LEFT JOIN drugs d ON d.drug_id = di.drug_id {product_stock_join_sql()} "
            "WHERE ds.pid = %s AND ds.encounter = %s "
            "AND ds.sale_id BETWEEN %s AND %s + %s * @@auto_increment_increment "
            "AND MOD(ds.sale_id - %s, @@auto_increment_increment) = 0 "
            "AND ds.selector LIKE %s AND ds.inventory_id > 0 AND ds.quantity <> 0",
            (pid, encounter, first_id, first_id, count - 1, first_id, SELECTOR_PREFIX + "%"),
        )

    def shrink_sales(self, quantities: dict[int, int]) -> int:
        """Set new quantities of partly returned rows (or of a stale plan's new rows) in
        one UPDATE."""
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
    """HeldSales from (sale_id, selector, drug_id, inventory_id, quantity, billed, lot
    number) rows; a hand-edited selector that is not ours is left alone."""
    held = []
    for r in rows:
        mapping_id = parse_selector(r[1])
        if mapping_id is None:
            continue
        held.append(
            HeldSale(int(r[0]), mapping_id, int(r[2]), int(r[3]), int(r[4]), bool(r[5]),
                     None if r[6] is None else str(r[6]))
        )
    return held
