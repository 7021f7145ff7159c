"""Many visits, each in its own transaction: drain the change queue, fill shortages when
stock arrives, sweep a window.

All run :func:`reconcile_each`, the per-visit isolation loop: any failure of one
visit (a database error, bad data, a bug) sets that visit aside in the change queue
with exponential backoff and one log line; the others go on (a lost connection still
stops the run). Each visit's transaction is
:func:`~aesthetic_inventory.consumption.service.reconcile_in_transaction`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial

from sqlalchemy.exc import DBAPIError

from ..db import is_connection_error
from ..errors import UnknownVisitError
from ..unit_of_work import UnitOfWorkFactory, retry_on_lock_conflict
from .domain import LotPolicy, error_summary, retry_delay
from .repositories import QueueRepository, SweepRepository
from .results import DrainResult, ReconcileResult, SweepResult
from .service import reconcile_in_transaction
from .settled import unsettled_visits

log = logging.getLogger("aesthetic_inventory.consumption.service")

Progress = Callable[[int], None]


def drain_change_queue(
    uow_factory: UnitOfWorkFactory, *, service_username: str, batch_size: int = 200,
    policy: LotPolicy | None = None, drain_all: bool = False, progress: Progress | None = None,
) -> DrainResult:
    """Reconcile the visits queued by the billing triggers, then fill the shortages of
    products that gained stock (queued by the stock-arrival trigger), oldest visit first.

    One cheap read when both queues are empty. Each visit is one transaction that
    claims its queue rows (``FOR UPDATE SKIP LOCKED``, so two workers never reconcile
    the same rows), reconciles, and deletes those rows; a worker killed midway rolls
    back and leaves them for the next run. A visit whose reconcile fails, for any
    reason, is set aside with backoff (:func:`retry_delay`) and the rest goes on.
    ``drain_all`` pages through the whole queue (``sync``); otherwise one batch (the
    service, every tick). ``progress`` is called with 1 after each visit.
    """
    new_uow = uow_factory
    totals = _Totals()
    after = 0

    def drain_one(pid: int, encounter: int) -> ReconcileResult | None:
        with new_uow() as uow:
            ids = uow.get(QueueRepository).claim(pid, encounter)
            if not ids:
                return None  # another worker has them
            try:
                result: ReconcileResult | None = reconcile_in_transaction(
                    uow, pid, encounter, service_username=service_username, policy=policy
                )
            except UnknownVisitError:
                # lines of a visit without an encounter row: nothing to move, and
                # nothing was written before the visit check
                result = None
            uow.get(QueueRepository).delete(ids)
            uow.commit()
            return result

    while True:
        with new_uow() as uow:
            visits, products = uow.get(QueueRepository).pending(batch_size, after)
        totals.add(reconcile_each([(p, e) for p, e, _ in visits], drain_one, new_uow,
                                  progress=progress))
        after = max([after, *(first for _, _, first in visits)])
        for drug_id, up_to in products:
            totals.add(_backfill_product(new_uow, drug_id, up_to, service_username, policy,
                                         progress))
        if not drain_all or len(visits) < batch_size:
            break
    return DrainResult(
        visits=len(totals.results),
        changed=sum(1 for r in totals.results if r.changed),
        skipped=totals.skipped,
        failed=totals.failed,
        results=tuple(totals.results),
    )


@dataclass
class _Totals:
    results: list[ReconcileResult] = field(default_factory=list)
    skipped: int = 0
    failed: int = 0

    def add(self, part: tuple[list[ReconcileResult], int, int]) -> None:
        self.results += part[0]
        self.skipped += part[1]
        self.failed += part[2]


def _backfill_product(
    new_uow: UnitOfWorkFactory, drug_id: int, up_to: int, service_username: str,
    policy: LotPolicy | None, progress: Progress | None,
) -> tuple[list[ReconcileResult], int, int]:
    """Stock arrived for ``drug_id``: reconcile its short visits, oldest first, until
    one stays short (the new stock is used up), then forget the queue rows read."""
    with new_uow() as uow:
        visits = uow.get(QueueRepository).short_visits(drug_id)

    def fill(pid: int, encounter: int) -> ReconcileResult | None:
        with new_uow() as uow:
            try:
                result = reconcile_in_transaction(
                    uow, pid, encounter, service_username=service_username, policy=policy
                )
            except UnknownVisitError:
                return None
            uow.commit()
            return result

    totals = _Totals()
    for visit in visits:
        part = reconcile_each([visit], fill, new_uow, progress=progress)
        totals.add(part)
        if any(m.drug_id == drug_id and m.shortage for r in part[0] for m in r.lines):
            break  # the new stock is used up (for this visit's rules): the rest wait
    def forget() -> None:
        with new_uow() as uow:
            uow.get(QueueRepository).delete_stock_rows(drug_id, up_to)
            uow.commit()

    # a worker on another node may delete the same rows: a lost conflict is retried
    retry_on_lock_conflict(forget)
    return totals.results, totals.skipped, totals.failed


def reconcile_each(
    visits: Iterable[tuple[int, int]],
    reconcile_one: Callable[[int, int], ReconcileResult | None],
    new_uow: UnitOfWorkFactory,
    *,
    progress: Progress | None = None,
) -> tuple[list[ReconcileResult], int, int]:
    """Run ``reconcile_one`` (one transaction) per visit, each isolated from the
    others' failures. Returns the results, the visits skipped (``None``: nothing to
    do or claimed elsewhere) and the visits that failed (set aside)."""
    results: list[ReconcileResult] = []
    skipped = failed = 0
    for pid, encounter in visits:
        outcome, ok = _isolated(new_uow, partial(reconcile_one, pid, encounter), pid, encounter)
        if not ok:
            failed += 1
        elif outcome is None:
            skipped += 1
        else:
            results.append(outcome)
        if progress is not None:
            progress(1)
    return results, skipped, failed


def _isolated(
    new_uow: UnitOfWorkFactory, work: Callable[[], ReconcileResult | None], pid: int,
    encounter: int,
) -> tuple[ReconcileResult | None, bool]:
    """Run one visit's transaction (retried on lock conflicts). Any failure of that
    visit (a database error, a bug, bad data) sets the visit aside in the change queue
    with backoff and logs one line; the others go on. A lost connection still stops
    the run: nothing else could be written either."""
    try:
        return retry_on_lock_conflict(work), True
    except Exception as exc:  # noqa: BLE001 - one bad visit must not stall the rest
        if isinstance(exc, DBAPIError) and is_connection_error(exc):
            raise
        error = error_summary(exc)
        try:
            with new_uow() as uow:
                queue = uow.get(QueueRepository)
                attempts, delay = queue.set_aside(pid, encounter, error, retry_delay)
                uow.commit()
        except DBAPIError as inner:
            if is_connection_error(inner):
                raise
            log.warning("visit pid %s encounter %s not reconciled and not set aside: %s; %s",
                        pid, encounter, error, error_summary(inner))
            return None, False
        log.warning(
            "visit pid %s encounter %s set aside (attempt %s, next try in %ss): %s",
            pid, encounter, attempts, f"{delay:g}", error,
        )
        return None, False


def sweep_visits(
    uow_factory: UnitOfWorkFactory,
    *,
    since: date,
    service_username: str,
    today: date | None = None,
    policy: LotPolicy | None = None,
) -> SweepResult:
    """Reconcile every visit with mapped billing lines (or AUTO_PROC rows) on/after
    ``since`` that a reconcile would change, every visit with an open shortage, and
    every visit holding rows of a vanished mapping.

    The window is checked set-based first, no transaction per visit: a server-side
    filter finds the visits that are not plainly settled; only if there are any are the
    window's facts read and decided by ``mapping_is_settled``. A sweep over visits that
    are already reconciled so costs two statements in total and ships no rows;
    ``checked`` reports how many window visits the exact check looked at."""
    new_uow = uow_factory
    with new_uow() as uow:
        suspects = uow.get(SweepRepository).suspect_visits(since)
        unsettled: set[tuple[int, int]] = set()
        checked = 0
        if suspects:  # only then are the window's facts worth shipping to Python
            unsettled, checked = unsettled_visits(uow.get(SweepRepository).window_facts(since))
            unsettled &= suspects
        visits = sorted(unsettled | set(uow.get(SweepRepository).always_candidates()))
        if visits:  # (a settled window costs no third statement)
            # set-aside visits wait for their backoff in the queue, not failed again here
            waiting = uow.get(QueueRepository).waiting_visits()
            visits = [v for v in visits if v not in waiting]

    def sweep_one(pid: int, encounter: int) -> ReconcileResult | None:
        with new_uow() as uow:
            try:
                result = reconcile_in_transaction(
                    uow, pid, encounter,
                    service_username=service_username, today=today, policy=policy,
                )
            except UnknownVisitError:
                return None
            uow.commit()
            return result

    results, skipped, failed = reconcile_each(visits, sweep_one, new_uow)
    return SweepResult(
        since=since,
        visits=len(results),
        changed=sum(1 for r in results if r.changed),
        skipped=skipped,
        failed=failed,
        shortage_units=sum(r.shortage for r in results),
        results=tuple(results),
        checked=checked,
    )


def default_since(today: date | None = None) -> date:
    """The sweep's default window: the last seven days."""
    return (today or date.today()) - timedelta(days=7)
