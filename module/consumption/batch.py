"""Many visits, each in its own transaction: drain the change queue, sweep a window.

Both run :func:`reconcile_each`, the per-visit isolation loop: a database error on
one visit is logged and counted, never allowed to stop the others (a lost connection
still stops the run). Each visit's transaction is
:func:`~aesthetic_inventory.consumption.service.reconcile_in_transaction`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..db import is_connection_error
from ..errors import UnknownVisitError
from ..unit_of_work import UnitOfWorkFactory, retry_on_lock_conflict, unit_of_work_factory
from .planning import unsettled_visits
from .results import DrainResult, ReconcileResult, SweepResult
from .service import reconcile_in_transaction

log = logging.getLogger("aesthetic_inventory.consumption.service")


def drain_change_queue(
    uow_factory: UnitOfWorkFactory | Engine, *, service_username: str, batch_size: int = 200
) -> DrainResult:
    """Reconcile the visits queued by the billing triggers.

    One cheap read when the queue is empty. Each visit is one transaction that claims
    its queue rows (``FOR UPDATE SKIP LOCKED``, so two workers never reconcile the same
    rows), reconciles, and deletes those rows; a worker killed midway rolls back and
    leaves them for the next run.
    """
    new_uow = unit_of_work_factory(uow_factory)
    with new_uow() as uow:
        visits = uow.queue.pending_visits(batch_size)

    def drain_one(pid: int, encounter: int) -> ReconcileResult | None:
        with new_uow() as uow:
            ids = uow.queue.claim(pid, encounter)
            if not ids:
                return None  # another worker has them
            try:
                result: ReconcileResult | None = reconcile_in_transaction(
                    uow, pid, encounter, service_username=service_username
                )
            except UnknownVisitError:
                # lines of a visit without an encounter row: nothing to move, and
                # nothing was written before the visit check
                result = None
            uow.queue.delete(ids)
            uow.commit()
            return result

    results, skipped, failed = reconcile_each(visits, drain_one)
    return DrainResult(
        visits=len(results),
        changed=sum(1 for r in results if r.changed),
        skipped=skipped,
        failed=failed,
        results=tuple(results),
    )


def reconcile_each(
    visits: Iterable[tuple[int, int]],
    reconcile_one: Callable[[int, int], ReconcileResult | None],
) -> tuple[list[ReconcileResult], int, int]:
    """Run ``reconcile_one`` (one transaction) per visit, each isolated from the
    others' failures. Returns the results, the visits skipped (``None``: nothing to
    do or claimed elsewhere) and the visits that failed."""
    results: list[ReconcileResult] = []
    skipped = failed = 0
    for pid, encounter in visits:
        outcome, ok = _isolated(
            lambda pid=pid, encounter=encounter: reconcile_one(pid, encounter), pid, encounter
        )
        if not ok:
            failed += 1
        elif outcome is None:
            skipped += 1
        else:
            results.append(outcome)
    return results, skipped, failed


def _isolated(
    work: Callable[[], ReconcileResult | None], pid: int, encounter: int
) -> tuple[ReconcileResult | None, bool]:
    """Run one visit's transaction (retried on lock conflicts); a database error on one
    visit is logged and reported, not allowed to stop the others. A lost connection
    still stops the run."""
    try:
        return retry_on_lock_conflict(work), True
    except DBAPIError as exc:
        if is_connection_error(exc):
            raise
        first = (str(exc.orig).splitlines() or [""])[0][:200]
        log.warning("visit pid %s encounter %s not reconciled: %s", pid, encounter, first)
        return None, False


def sweep_visits(
    uow_factory: UnitOfWorkFactory | Engine,
    *,
    since: date,
    service_username: str,
    today: date | None = None,
) -> SweepResult:
    """Reconcile every visit with mapped billing lines (or AUTO_PROC rows) on/after
    ``since`` that a reconcile would change, every visit with an open shortage, and
    every visit holding rows of a vanished mapping.

    The window is checked set-based first, no transaction per visit: a server-side
    filter finds the visits that are not plainly settled; only if there are any are the
    window's facts read and decided by ``mapping_is_settled``. A sweep over visits that
    are already reconciled so costs two statements in total and ships no rows;
    ``checked`` reports how many window visits the exact check looked at."""
    new_uow = unit_of_work_factory(uow_factory)
    with new_uow() as uow:
        suspects = uow.sweep.suspect_visits(since)
        unsettled: set[tuple[int, int]] = set()
        checked = 0
        if suspects:  # only then are the window's facts worth shipping to Python
            unsettled, checked = unsettled_visits(uow.sweep.window_facts(since))
            unsettled &= suspects
        visits = sorted(unsettled | set(uow.sweep.always_candidates()))

    def sweep_one(pid: int, encounter: int) -> ReconcileResult | None:
        with new_uow() as uow:
            try:
                result = reconcile_in_transaction(
                    uow, pid, encounter,
                    service_username=service_username, today=today,
                )
            except UnknownVisitError:
                return None
            uow.commit()
            return result

    results, skipped, failed = reconcile_each(visits, sweep_one)
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
