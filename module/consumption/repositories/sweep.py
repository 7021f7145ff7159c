"""The SQL of the sweep: which visits of a window a reconcile would change."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..domain import SELECTOR_PREFIX, StoredUsage
from ..settled import HeldRows, LiveMapping, UsageRecord, WindowFacts

# the sweep's window: visits with mapped billing lines dated on/after :since, or with
# AUTO_PROC rows sold on/after it
_WINDOW = (
    "WITH v AS ("
    "SELECT b.pid, b.encounter FROM billing b "
    "JOIN procedure_products pp ON pp.code_type = b.code_type AND pp.code = b.code "
    "WHERE b.date >= :since AND b.pid IS NOT NULL AND b.encounter IS NOT NULL "
    "UNION SELECT pid, encounter FROM drug_sales "
    "WHERE sale_date >= :since AND selector LIKE :prefix) "
)


# Every join below goes from a window visit to a base table through an index
# ((pid, encounter) of billing, drug_sales and usage, the primary key of
# procedure_products); STRAIGHT_JOIN keeps the optimizer from scanning the whole
# table and probing the window instead. Joining the derived tables to each other
# has no key and was much slower.
_LIVE_MAPPING = (
    "SELECT 1 FROM billing b2 JOIN procedure_products pp2 "
    "ON pp2.code_type = b2.code_type AND pp2.code = b2.code "
    "WHERE b2.pid = {t}.pid AND b2.encounter = {t}.encounter AND b2.activity = 1 "
    "AND pp2.id = {mapping}"
)
_SUSPECTS = (
    _WINDOW + ", l AS ("
    "SELECT b.pid, b.encounter, pp.id AS mapping_id, pp.drug_id, "
    "GREATEST(SUM(COALESCE(b.units, 0)), 0) * pp.quantity AS planned FROM v "
    "STRAIGHT_JOIN billing b ON b.pid = v.pid AND b.encounter = v.encounter "
    "AND b.activity = 1 "
    "JOIN procedure_products pp ON pp.code_type = b.code_type AND pp.code = b.code "
    "GROUP BY b.pid, b.encounter, pp.id, pp.drug_id, pp.quantity) "
    # a mapping with live lines whose rows or record do not match its requirement
    "SELECT l.pid, l.encounter FROM l "
    "LEFT JOIN aesthetic_inventory_usage u ON u.pid = l.pid "
    "AND u.encounter = l.encounter AND u.mapping_id = l.mapping_id "
    # a recorded actual, not the plan, is what the rows must hold
    "WHERE u.id IS NULL OR u.required_units <> CEILING(COALESCE("
    "u.actual_quantity, l.planned)) "
    "OR u.allocated_units > CEILING(COALESCE(u.actual_quantity, l.planned)) "
    # a recorded shortage is settled here; stock arriving is the job of
    # sweep_always_candidates
    "OR u.shortage_units <> CEILING(COALESCE(u.actual_quantity, l.planned)) "
    "- u.allocated_units "
    "OR u.planned_quantity <> l.planned OR u.drug_id <> l.drug_id "
    "OR u.allocated_units <> (SELECT COALESCE(SUM(ds.quantity), 0) "
    "FROM drug_sales ds WHERE ds.pid = l.pid AND ds.encounter = l.encounter "
    "AND ds.selector = CONCAT(:plain, l.mapping_id) AND ds.drug_id = l.drug_id) "
    "OR EXISTS (SELECT 1 FROM drug_sales ds WHERE ds.pid = l.pid "
    "AND ds.encounter = l.encounter AND ds.selector = CONCAT(:plain, l.mapping_id) "
    "AND ds.drug_id <> l.drug_id) "
    # AUTO_PROC rows that are not exactly 'AUTO_PROC:<a live mapping of the visit>'
    "UNION SELECT ds.pid, ds.encounter FROM v STRAIGHT_JOIN drug_sales ds "
    "ON ds.pid = v.pid AND ds.encounter = v.encounter AND ds.selector LIKE :prefix "
    "WHERE NOT EXISTS (" + _LIVE_MAPPING.format(
        t="ds", mapping="CAST(SUBSTRING(ds.selector, :cut) AS UNSIGNED)"
    ) + " AND ds.selector = CONCAT(:plain, pp2.id)) "
    # usage records of a mapping without live lines
    "UNION SELECT u.pid, u.encounter FROM v STRAIGHT_JOIN aesthetic_inventory_usage u "
    "ON u.pid = v.pid AND u.encounter = v.encounter "
    "WHERE NOT EXISTS (" + _LIVE_MAPPING.format(t="u", mapping="u.mapping_id") + ")"
)


class SweepRepository:
    """Set-based reads over the visits of a sweep window (no locks: plain reads)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def suspect_visits(self, since: date) -> set[tuple[int, int]]:
        """Window visits that are NOT plainly settled, computed in the server so that a
        window of reconciled visits sends no rows at all.

        A visit is plainly settled when each of its mappings with live lines holds exactly
        its required units, all of the mapping's product, and has the matching usage record
        (required, allocated, no shortage, same planned quantity and product), and it has no
        AUTO_PROC rows or usage records of a mapping without live lines. Everything else is
        a suspect, decided exactly by ``mapping_is_settled`` in Python: this filter only
        spares that check the visits it would call settled anyway. The AUTO_PROC rows are
        joined on the mapping id parsed out of the selector (a key, unlike a CONCAT)."""
        rows = self.conn.execute(
            text(_SUSPECTS),
            {"since": since, "prefix": SELECTOR_PREFIX + "%", "plain": SELECTOR_PREFIX,
             "cut": len(SELECTOR_PREFIX) + 1},
        )
        return {(int(r[0]), int(r[1])) for r in rows}

    def window_facts(self, since: date) -> WindowFacts:
        """Per visit of the window (mapped billing lines dated on/after ``since`` or AUTO_PROC
        rows sold on/after it), in ONE statement: its live mapped units per mapping (kind 0),
        its AUTO_PROC quantities per selector, product and billed flag (kind 1) and its usage
        records (kind 2), as typed rows. The sweep compares them in Python
        (``mapping_is_settled``) and opens a transaction only for visits that need one."""
        rows = self.conn.execute(
            text(
                _WINDOW + "SELECT 0, v.pid, v.encounter, pp.id, pp.drug_id, "
                "SUM(COALESCE(b.units, 0)), pp.quantity, NULL, NULL, NULL FROM v "
                "JOIN billing b ON b.pid = v.pid AND b.encounter = v.encounter AND b.activity = 1 "
                "JOIN procedure_products pp ON pp.code_type = b.code_type AND pp.code = b.code "
                "GROUP BY v.pid, v.encounter, pp.id, pp.drug_id, pp.quantity "
                "UNION ALL SELECT 1, v.pid, v.encounter, NULL, ds.drug_id, SUM(ds.quantity), "
                "NULL, ds.billed, NULL, ds.selector FROM v "
                "JOIN drug_sales ds ON ds.pid = v.pid AND ds.encounter = v.encounter "
                "AND ds.selector LIKE :prefix "
                "GROUP BY v.pid, v.encounter, ds.selector, ds.drug_id, ds.billed "
                "UNION ALL SELECT 2, v.pid, v.encounter, u.mapping_id, u.drug_id, "
                # the recorded actual rides in the selector column (NULL elsewhere)
                "u.required_units, u.planned_quantity, u.allocated_units, u.shortage_units, "
                "u.actual_quantity "
                "FROM v JOIN aesthetic_inventory_usage u "
                "ON u.pid = v.pid AND u.encounter = v.encounter"
            ),
            {"since": since, "prefix": SELECTOR_PREFIX + "%"},
        )
        live: list[LiveMapping] = []
        held: list[HeldRows] = []
        usage: list[UsageRecord] = []
        for kind, pid, enc, mapping_id, drug_id, n1, dec, n2, n3, selector in rows:
            if kind == 0:
                live.append(LiveMapping(int(pid), int(enc), int(mapping_id), int(drug_id),
                                        int(n1), Decimal(dec)))
            elif kind == 1:
                held.append(HeldRows(int(pid), int(enc), selector, int(drug_id), int(n1),
                                     bool(n2)))
            else:
                usage.append(UsageRecord(int(pid), int(enc), int(mapping_id), StoredUsage(
                    int(drug_id), Decimal(dec), int(n1), int(n2), int(n3),
                    None if selector is None else Decimal(str(selector)),
                )))
        return WindowFacts(tuple(live), tuple(held), tuple(usage))

    def always_candidates(self) -> list[tuple[int, int]]:
        """Visits the sweep reconciles whatever their window: open shortages of a product
        that has stock again (some lot not destroyed with on_hand > 0: a superset of what
        the lot rules can use, so no refill is missed), visits with fee-sheet edits not yet
        absorbed, and unbilled AUTO_PROC rows whose mapping vanished (any date)."""
        rows = self.conn.execute(
            text(
                "SELECT u.pid, u.encounter FROM aesthetic_inventory_usage u "
                "WHERE u.shortage_units > 0 AND EXISTS (SELECT 1 FROM drug_inventory di "
                "WHERE di.drug_id = u.drug_id AND di.destroy_date IS NULL AND di.on_hand > 0) "
                # fee-sheet edits not absorbed yet (their queue row may be gone)
                "UNION SELECT e.pid, e.encounter FROM aesthetic_inventory_fee_sheet_edits e "
                # primary-key probe per row (a join on CONCAT would compare every pair)
                "UNION SELECT ds.pid, ds.encounter FROM drug_sales ds "
                "WHERE ds.selector LIKE :prefix AND ds.billed = 0 AND NOT EXISTS ("
                "SELECT 1 FROM procedure_products pp "
                "WHERE pp.id = CAST(SUBSTRING(ds.selector, :cut) AS UNSIGNED))"
            ),
            {"prefix": SELECTOR_PREFIX + "%", "cut": len(SELECTOR_PREFIX) + 1},
        )
        return [(int(r[0]), int(r[1])) for r in rows]
