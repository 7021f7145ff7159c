"""Reconcile one visit in one transaction: the lock protocol around the planning.

A reconcile compares what the visit's live billing lines require (per mapping) with
what its ``AUTO_PROC`` rows already hold and writes only the difference, in one
transaction. Locks are taken in one fixed order: the visit's ``form_encounter`` row
first (it serialises reconciles of one visit), then its ``AUTO_PROC`` rows (and, when
stock is taken, the rows the reconcile writes before the lots: :mod:`.writes`), then
the lots in ascending ``inventory_id``, then (products counted in units, only when a lot
changed between the read and the lock) their open containers in ascending id. What to
write is decided by :mod:`~aesthetic_inventory.consumption.planning` (pure); the SQL is
in :mod:`~aesthetic_inventory.consumption.repositories`. The queue drain and the sweep
(many visits, each its own transaction) are :mod:`~aesthetic_inventory.consumption.batch`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy.engine import Connection

from ..db import StaleReadError
from ..errors import UnknownVisitError
from ..unit_of_work import UnitOfWork, retry_on_lock_conflict
from .containers.reconcile import (
    CountedPlan,
    counted_products,
    lock_and_plan,
    preview_plan,
    write_containers,
)
from .domain import (
    DEFAULT_POLICY,
    HeldSale,
    Lot,
    LotPolicy,
    MappingPlan,
    Requirement,
    plan_still_holds,
)
from .planning import (
    StockChanges,
    Visit,
    VisitFacts,
    before_own_writes,
    outcomes,
    remaining_deltas,
    snapshot_cut,
    stock_plan,
)
from .repositories import ActualsRepository, ConsumptionRepository
from .results import DrainResult, LotMovement, MappingOutcome, ReconcileResult, SweepResult
from .visit_plan import VisitPlan, plan_visit
from .writes import TakeWrites

__all__ = [
    "DrainResult",
    "LotMovement",
    "MappingOutcome",
    "ReconcileResult",
    "SweepResult",
    "allocate_under_lock",
    "preview_in_transaction",
    "reconcile_in_transaction",
    "reconcile_visit",
]


def lots_to_read(
    plans: dict[int, MappingPlan], reqs: dict[int, Requirement]
) -> tuple[set[int], set[int]]:
    """The products whose lots a plan takes from, and the lots it reads by id (where
    returns go, and the lot an actual names)."""
    takers = [reqs[key] for key, plan in plans.items() if plan.take > 0 and reqs[key].dispensable]
    take_drugs = {req.drug_id for req in takers if req.lot_id is None}
    return_lots = {s.inventory_id for p in plans.values() for s in p.returns if s.inventory_id}
    # a named lot (the actual's "lot used") is read and locked by id like a return's lot
    return_lots |= {req.lot_id for req in takers if req.lot_id}
    return take_drugs, return_lots


def _takes_named_lot(plans: dict[int, MappingPlan], reqs: dict[int, Requirement]) -> bool:
    """Whether a plan takes from the lot an actual names (its stock decides the take)."""
    return any(plan.take > 0 and reqs[key].dispensable and reqs[key].lot_id
               for key, plan in plans.items())


def read_snapshot(
    repo: ConsumptionRepository, plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
    visit: Visit, policy: LotPolicy,
) -> dict[int, Lot]:
    """The unlocked lot snapshot a plan is chosen on (the running-total cut when it
    applies): the reconcile's first lot read, and a preview's only one."""
    take_drugs, return_lots = lots_to_read(plans, reqs)
    if not take_drugs and not return_lots:
        return {}
    cut = snapshot_cut(plans, reqs, policy) if take_drugs else None
    return {
        lot.inventory_id: lot
        for lot in repo.candidate_lots(
            take_drugs, return_lots, sale_date=policy.expiry_cutoff(visit.visit_date),
            needs=cut.needs if cut else None,
            default_warehouse=cut.default_warehouse if cut else "",
            only_warehouse=cut.only_warehouse if cut else None,
        )
    }


def allocate_under_lock(
    repo: ConsumptionRepository, plans: dict[int, MappingPlan],
    reqs: dict[int, Requirement], visit: Visit, policy: LotPolicy = DEFAULT_POLICY,
    before_lock: Callable[[StockChanges], None] | None = None,
) -> tuple[StockChanges, dict[int, int]]:
    """Choose lots on an unlocked snapshot, then write the choice with one UPDATE that
    locks exactly the lots it touches (inventory_id order) and checks them under that
    lock (:meth:`ConsumptionRepository.adjust_lots_as_planned`). If a lot differs (a
    concurrent save moved stock meanwhile), the plan was stale once: from then on the
    head lots are locked before planning (:func:`_plan_on_locked_head`). Either way
    every lot written is locked and the plan finally written rests on on_hand read
    under that lock, so stock is never oversold.

    ``before_lock`` is called with the first plan right before that UPDATE (the caller
    writes what needs no lot lock there, so the contended lot locks are held for fewer
    round trips). Returns the changes and the deltas already written
    (``{inventory_id: delta}``); the caller writes the rest (``changes.deltas`` minus
    these)."""
    take_drugs, return_lots = lots_to_read(plans, reqs)
    if not take_drugs and not (return_lots and _takes_named_lot(plans, reqs)):
        # nothing taken by lot order or from a named lot: returns go to the lots their
        # rows name, whatever those hold (the UPDATE that writes them locks them)
        return stock_plan(plans, reqs, visit, {}, policy), {}
    if not take_drugs:  # a named lot: lock it (and the returns' lots) before planning
        by_id = {lot.inventory_id: lot for lot in repo.lock_lots((), return_lots)}
        return stock_plan(plans, reqs, visit, by_id, policy), {}
    snapshot = read_snapshot(repo, plans, reqs, visit, policy)
    changes = stock_plan(plans, reqs, visit, snapshot, policy)
    applied = {lot_id: delta for lot_id, delta in changes.deltas.items() if delta and lot_id}
    if before_lock is not None:
        before_lock(changes)
    if repo.adjust_lots_as_planned(applied, snapshot):
        return changes, applied  # nothing the plan relies on changed between read and lock
    seqs = {lot.warehouse_id: lot.warehouse_seq for lot in snapshot.values()}
    return _plan_on_locked_head(repo, plans, reqs, visit, policy, applied, seqs), applied


def _plan_on_locked_head(
    repo: ConsumptionRepository, plans: dict[int, MappingPlan],
    reqs: dict[int, Requirement], visit: Visit, policy: LotPolicy,
    applied: dict[int, int], seqs: dict[str, int | None],
) -> StockChanges:
    """After a stale plan: lock the head lots (the bounded snapshot's, read again, and
    the lots already written) by id, then plan only on their locked state. The head is
    read again while a plan on the locked lots falls short and the read still shows
    lots not held (they were drained between read and lock), so the locks stay few
    (never every candidate lot of a product) and no plan ever waits to retry."""
    held: dict[int, Lot] = {}
    while True:
        fresh = read_snapshot(repo, plans, reqs, visit, policy)
        want = sorted((set(applied) | set(fresh)) - set(held))
        seqs.update({lot.warehouse_id: lot.warehouse_seq for lot in fresh.values()})
        if want:
            locked = _lock_by_id(repo, want, seqs)
            held.update({lot.inventory_id: before_own_writes(lot, applied) for lot in locked})
        plan = stock_plan(plans, reqs, visit, held, policy)
        if not want or (not sum(plan.shortage.values())
                        and plan_still_holds(plan.deltas, held)):
            return plan


def _lock_by_id(
    repo: ConsumptionRepository, ids: list[int], seqs: dict[str, int | None]
) -> list[Lot]:
    """Lock lots by id (inventory_id order) with their warehouse seq; a lot moved to a
    warehouse no snapshot showed gets that warehouse's seq read now."""
    locked = repo.lock_lots_by_id(ids, seqs)
    if locked is None:
        rows = repo.lock_lots((), ids)  # held already: no wait
        moved = {lot.warehouse_id for lot in rows}
        seqs.update({wh: None for wh in moved} | repo.warehouse_seqs(moved))
        locked = repo.lock_lots_by_id(ids, seqs)
    return locked or []


def _read_locked_visit(repo: ConsumptionRepository, pid: int, encounter: int,
                       today: date | None) -> tuple[Visit, list[HeldSale], VisitFacts]:
    """The visit and its rows under its lock (the encounter row serialises reconciles of
    the visit, then its rows are locked), then its facts. When the facts' snapshot does
    not hold the rows the lock read saw (on a Galera cluster the lock is local: another
    node's save of the visit committed in between), nothing is planned on either read:
    :class:`~aesthetic_inventory.db.StaleReadError`, and the reconcile runs again."""
    visit, held = repo.lock_visit_and_held(pid, encounter, today)
    if visit is None:
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    facts = repo.visit_facts(pid, encounter)
    if facts.auto_rows != visit.auto_rows:
        raise StaleReadError(f"visit pid {pid} encounter {encounter}: its rows changed "
                             "between its lock and its read (another node's save)")
    return visit, held, facts


def reconcile_in_transaction(
    uow: UnitOfWork,
    pid: int,
    encounter: int,
    *,
    service_username: str,
    today: date | None = None,
    after_writes: Callable[[Connection], None] | None = None,
    policy: LotPolicy | None = None,
    actor: str | None = None,
) -> ReconcileResult:
    """Reconcile one visit inside the caller's unit of work (entered; no commit):
    gather the facts under locks, :func:`~.visit_plan.plan_visit`, then apply.
    ``actor``: the user whose recorded actuals caused this reconcile (see ``plan_visit``).

    ``today`` is the sale date of a visit without a date. ``after_writes`` is a test
    seam called after the stock writes, before the last usage records (a failure there
    must roll everything back; a plan that takes stock wrote its records before the lot
    UPDATE). ``policy``: which lots may be taken (default: OpenEMR's
    ``SELL_FROM_ONE_WAREHOUSE``, no blocked days).
    """
    policy = policy or DEFAULT_POLICY
    repo = uow.get(ConsumptionRepository)
    now = datetime.now().replace(microsecond=0)
    visit, held, facts = _read_locked_visit(repo, pid, encounter, today)
    plan = plan_visit(visit, held, facts, service_username=service_username, now=now,
                      actor=actor)
    if plan.absorbed is not None:
        _write_absorbed(uow.get(ActualsRepository), pid, encounter, plan, now)
    # a product counted in units is drawn from containers (.containers): lots, then
    # its open containers, are locked before planning; other visits as always
    counted = counted_products(facts.counted, visit_date=visit.visit_date,
                               visit_time=visit.visit_time)
    boxed: CountedPlan | None = None
    takes = TakeWrites(repo, plan, now)
    if counted is None:
        changes, applied = allocate_under_lock(repo, plan.plans, plan.reqs, visit, policy,
                                               before_lock=takes.before_lock)
    else:
        changes, applied, boxed = lock_and_plan(uow, plan.plans, plan.reqs, visit, counted,
                                                policy)

    # rows drawn from containers come last and are ledgered by their draws
    drawn = boxed.drawn_rows if boxed is not None else 0
    writes, first_sale_id = _write_changes(repo, takes, changes, applied,
                                           ledgered=len(changes.new_sales) - drawn)
    if boxed is not None:
        write_containers(uow, boxed, visit, changes.new_sales, first_sale_id,
                         user=service_username, now=now)
    if after_writes is not None:
        after_writes(uow.connection)
    lines_out, usage_writes = outcomes(plan.plans, plan.reqs, plan.usage, changes)
    writes += repo.upsert_usage(pid, encounter, takes.usage_rows(usage_writes), now)
    return ReconcileResult(
        pid, encounter, tuple(lines_out), writes, changes.stock_changed, plan.problems
    )


def _write_changes(repo: ConsumptionRepository, takes: TakeWrites, changes: StockChanges,
                   applied: dict[int, int], *, ledgered: int) -> tuple[int, int]:
    """The stock writes the plan still needs after the lots were locked: the write
    statements sent, and the first id of ``changes.new_sales`` when they were inserted
    here in one INSERT (0 otherwise). ``ledgered``: how many of the new rows, from the
    first, get their ledger rows here (the rest are drawn from containers)."""
    writes = (1 if applied else 0) + takes.writes
    if takes.first is not None:  # written before the lot UPDATE (.writes)
        return writes + takes.after_lock(changes, applied), 0
    writes += repo.adjust_lots(remaining_deltas(changes.deltas, applied))
    first_sale_id = repo.insert_sales(changes.new_sales, ledgered=ledgered)
    writes += 1 if changes.new_sales else 0
    writes += repo.shrink_sales(changes.shrink)
    return writes + repo.delete_sales(changes.delete), first_sale_id


def _write_absorbed(
    actuals: ActualsRepository, pid: int, encounter: int, plan: VisitPlan, now: datetime
) -> None:
    """Record the absorbed fee-sheet edits (actual, history) and spend the edits."""
    assert plan.absorbed is not None
    changed = plan.absorbed.changed
    actuals.write_actuals(pid, encounter, [(ref, p, new) for ref, p, _old, new in changed], now)
    actuals.append_history(pid, encounter, changed, now)
    actuals.delete_edits(plan.absorbed.edit_ids)


def preview_in_transaction(
    repo: ConsumptionRepository, pid: int, encounter: int, *, service_username: str,
    today: date | None = None, policy: LotPolicy | None = None,
) -> tuple[ReconcileResult, int]:
    """What :func:`reconcile_in_transaction` would do now, with the writes left out:
    the same facts (read without locks), the same plan, the same lot snapshot. Returns
    the result (``writes`` 0) and how many usage records the reconcile would write."""
    policy = policy or DEFAULT_POLICY
    visit, held = repo.visit_and_held(pid, encounter, today)
    if visit is None:
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    facts = repo.visit_facts(pid, encounter)
    plan = plan_visit(visit, held, facts, service_username=service_username,
                      now=datetime.now().replace(microsecond=0))
    counted = counted_products(facts.counted, visit_date=visit.visit_date,
                               visit_time=visit.visit_time)
    if counted is None:
        changes = stock_plan(plan.plans, plan.reqs, visit,
                             read_snapshot(repo, plan.plans, plan.reqs, visit, policy), policy)
    else:  # the same container plan, on containers and lots read without locks
        changes = preview_plan(repo.conn, plan.plans, plan.reqs, visit, counted, policy)
    lines_out, usage_writes = outcomes(plan.plans, plan.reqs, plan.usage, changes)
    records = {row.mapping_id for row in usage_writes}
    if plan.absorbed is not None:
        records |= {ref.mapping_id for ref, *_rest in plan.absorbed.changed}
    result = ReconcileResult(pid, encounter, tuple(lines_out), 0, changes.stock_changed,
                             plan.problems)
    return result, len(records)


def reconcile_visit(
    uow: UnitOfWork,
    pid: int,
    encounter: int,
    *,
    service_username: str,
    today: date | None = None,
    after_writes: Callable[[Connection], None] | None = None,
    policy: LotPolicy | None = None,
) -> ReconcileResult:
    """Reconcile one visit in one transaction (``uow`` not yet entered), retrying the
    whole transaction on deadlock or lock wait timeout."""

    def work() -> ReconcileResult:
        with uow:
            result = reconcile_in_transaction(
                uow,
                pid,
                encounter,
                service_username=service_username,
                today=today,
                after_writes=after_writes,
                policy=policy,
            )
            uow.commit()
            return result

    return retry_on_lock_conflict(work)
