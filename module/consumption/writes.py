"""The writes of a reconcile that takes stock, ordered around the lots' lock (issue 21).

The UPDATE of ``drug_inventory`` that writes a plan is also the lots' lock
(:meth:`~.repositories.lots.LotRepository.adjust_lots_as_planned`); concurrent saves of
a product queue on its head lot until the holder commits. So everything that needs no
lot lock is written BEFORE that UPDATE: the usage records, the returns (shrunk and
deleted rows), the new sales rows and their ledger rows. After it comes only the
COMMIT. A stale first plan (a lot the plan relied on changed before the UPDATE locked
it) is rare since the check accepts a lot that still covers its take
(:func:`~.domain.check_bounds`); then the rows written before the lock are brought to
the final plan, made on the locked lots: rows of a lot the final plan uses less or not
at all are shrunk or deleted (only the rows this reconcile inserted: on a Galera
cluster another node's rows of the visit may be in view), new lots get new rows (the
``drug_sales`` observers ledger each change, so every lot's ledger still balances), and
the usage records are written again where they differ.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from .planning import StockChanges, UsageRow, outcomes, remaining_deltas, zero_usage
from .repositories import ConsumptionRepository
from .visit_plan import VisitPlan


class TakeWrites:
    """The writes of one reconcile around the lot lock (one instance per reconcile)."""

    def __init__(self, repo: ConsumptionRepository, plan: VisitPlan, now: datetime) -> None:
        self.repo, self.plan, self.now = repo, plan, now
        self.first: StockChanges | None = None  # the plan written before the lock
        self.first_sale_id = 0  # the first row that plan inserted (0: none)
        self.usage: dict[int, UsageRow] = {}
        self.writes = 0

    def before_lock(self, first: StockChanges) -> None:
        """Write ``first`` except its lot changes (the caller's UPDATE writes those)."""
        repo, visit = self.repo, self.plan.visit
        rows = outcomes(self.plan.plans, self.plan.reqs, self.plan.usage, first)[1]
        self.writes += repo.upsert_usage(visit.pid, visit.encounter, rows, self.now)
        self.usage = {row.mapping_id: row for row in rows}
        self.writes += repo.shrink_sales(first.shrink) + repo.delete_sales(first.delete)
        self.first_sale_id = repo.insert_sales(first.new_sales)
        self.writes += 1 if first.new_sales else 0
        self.first = first

    def after_lock(self, final: StockChanges, applied: dict[int, int]) -> int:
        """Bring the rows written before the lock to ``final`` (nothing when it is the
        plan they were written for); returns the write statements sent."""
        if final is self.first:
            return 0
        writes = self.repo.adjust_lots(remaining_deltas(final.deltas, applied))
        return writes + self._correct_sales(final)

    def _correct_sales(self, final: StockChanges) -> int:
        visit = self.plan.visit
        want: dict[tuple[str, int], int] = defaultdict(int)
        for sale in final.new_sales:
            want[(sale.selector, sale.inventory_id)] += sale.quantity
        quantities: dict[int, int] = {}
        delete: list[int] = []
        # only the rows the first plan inserted (returns were final already); on a
        # cluster another node's rows of this visit may be in view (.own_rows)
        own = (self.repo.own_rows(visit.pid, visit.encounter, self.first_sale_id)
               if self.first_sale_id else [])
        for sale_id, selector, inventory_id, quantity in own:
            target = want.pop((selector, inventory_id), 0)
            if not target:
                delete.append(sale_id)
            elif target != quantity:
                quantities[sale_id] = target
        writes = self.repo.shrink_sales(quantities) + self.repo.delete_sales(delete)
        missing = [s for s in final.new_sales if (s.selector, s.inventory_id) in want]
        self.repo.insert_sales(missing)
        return writes + (1 if missing else 0)

    def usage_rows(self, final: list[UsageRow]) -> list[UsageRow]:
        """The usage records still to write: those of ``final`` (the records that differ
        from the stored ones) not written before the lock, and a record written then
        that the final plan leaves as stored, written back as stored."""
        by_mapping = {row.mapping_id: row for row in final}
        for mapping_id, row in self.usage.items():
            if mapping_id not in by_mapping:
                by_mapping[mapping_id] = self.plan.usage.get(mapping_id, zero_usage(row))
        return [row for key, row in sorted(by_mapping.items()) if self.usage.get(key) != row]
