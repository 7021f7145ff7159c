"""Reconcile one visit in one transaction: the lock protocol around the planning.

A reconcile compares what the visit's live billing lines require (per mapping) with
what its ``AUTO_PROC`` rows already hold and writes only the difference, in one
transaction. Locks are taken in one fixed order: the visit's ``form_encounter`` row
first (it serialises reconciles of one visit), then its ``AUTO_PROC`` rows, then the
lots in ascending ``inventory_id``. What to write is decided by
:mod:`~aesthetic_inventory.consumption.planning` (pure); the SQL is in
:mod:`~aesthetic_inventory.consumption.repositories`. The queue drain and the sweep
(many visits, each its own transaction) are :mod:`~aesthetic_inventory.consumption.batch`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy.engine import Connection, Engine

from ..db import connect, existing_tables, require_innodb, require_openemr
from ..errors import UnknownVisitError
from ..install.service import SchemaNotMigratedError, require_migrated
from ..unit_of_work import UnitOfWork, retry_on_lock_conflict
from .domain import (
    DEFAULT_POLICY,
    HeldSale,
    LotPolicy,
    MappingPlan,
    Requirement,
    merge_locked,
    plan_still_holds,
    requirement_problem,
)
from .planning import (
    RecordedActual,
    StockChanges,
    Visit,
    VisitFacts,
    apply_actuals,
    before_own_writes,
    mapping_plans,
    mapping_problems,
    outcomes,
    remaining_deltas,
    requirements,
    snapshot_cut,
    stock_plan,
)
from .repositories import ConsumptionRepository
from .results import DrainResult, LotMovement, MappingOutcome, ReconcileResult, SweepResult

__all__ = [
    "DrainResult",
    "LotMovement",
    "MappingOutcome",
    "ReconcileResult",
    "SweepResult",
    "allocate_under_lock",
    "preflight",
    "reconcile_in_transaction",
    "reconcile_visit",
]

MODULE_TABLES = (
    "aesthetic_inventory_usage", "aesthetic_inventory_change_queue",
    "aesthetic_inventory_stock_queue",
    # 519_20: a reconcile reads recorded actuals and fee-sheet edits
    "aesthetic_inventory_fee_sheet_edits", "aesthetic_inventory_usage_history",
)

# The batch runners lived here before they got their own module; these names stay
# importable from here so callers written against the old path keep working.
_BATCH_NAMES = frozenset({"drain_change_queue", "sweep_visits", "default_since"})


def __getattr__(name: str) -> object:
    if name in _BATCH_NAMES:
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def allocate_under_lock(
    repo: ConsumptionRepository, plans: dict[int, MappingPlan],
    reqs: dict[int, Requirement], visit: Visit, policy: LotPolicy = DEFAULT_POLICY,
) -> tuple[StockChanges, dict[int, int]]:
    """Choose lots on an unlocked snapshot, then write the choice with one UPDATE that
    locks exactly the lots it touches (inventory_id order) and checks them under that
    lock (:meth:`ConsumptionRepository.adjust_lots_as_planned`). If a lot differs (a
    concurrent save moved stock meanwhile), re-plan on the state the lots had when
    locked; if the re-plan needs a lot we do not hold, fall back to locking every
    candidate lot. Either way every lot written is locked and the plan finally written
    rests on on_hand read under that lock, so stock is never oversold.

    Returns the changes and the deltas already written (``{inventory_id: delta}``); the
    caller writes the rest (``changes.deltas`` minus these)."""
    takers = [reqs[key] for key, plan in plans.items() if plan.take > 0 and reqs[key].dispensable]
    take_drugs = {req.drug_id for req in takers if req.lot_id is None}
    return_lots = {s.inventory_id for p in plans.values() for s in p.returns if s.inventory_id}
    # a named lot (the actual's "lot used") is read and locked by id like a return's lot
    return_lots |= {req.lot_id for req in takers if req.lot_id}
    if not take_drugs and not return_lots:
        return stock_plan(plans, reqs, visit, {}, policy), {}
    if not take_drugs:  # returns only: their lots are known, lock them straight away
        lots = repo.lock_lots((), return_lots)
        locked = {lot.inventory_id: lot for lot in lots}
        return stock_plan(plans, reqs, visit, locked, policy), {}
    cut = snapshot_cut(plans, reqs, policy)
    snapshot = {
        lot.inventory_id: lot
        for lot in repo.candidate_lots(
            take_drugs, return_lots, sale_date=policy.expiry_cutoff(visit.visit_date),
            needs=cut.needs if cut else None,
            default_warehouse=cut.default_warehouse if cut else "",
            only_warehouse=cut.only_warehouse if cut else None,
        )
    }
    changes = stock_plan(plans, reqs, visit, snapshot, policy)
    applied = {lot_id: delta for lot_id, delta in changes.deltas.items() if delta and lot_id}
    if repo.adjust_lots_as_planned(applied, snapshot):
        return changes, applied  # nothing the plan relies on changed between read and lock
    touched = sorted(applied)
    seqs = {lot.warehouse_id: lot.warehouse_seq for lot in snapshot.values()}
    # the touched lots are ours now; their state when locked is today's minus our deltas
    locked = repo.lock_lots_by_id(touched, seqs)
    if locked is not None:
        locked = [before_own_writes(lot, applied) for lot in locked]
        merged = merge_locked(snapshot, touched, locked)
        replanned = stock_plan(plans, reqs, visit, merged, policy)
        # the snapshot may end where the first plan's lots did (running-total cut): a
        # re-plan that now falls short might have needed lots it never saw
        no_worse = sum(replanned.shortage.values()) <= sum(changes.shortage.values())
        if no_worse and plan_still_holds(replanned.deltas, (lot.inventory_id for lot in locked)):
            return replanned, applied
    lots = repo.lock_lots(take_drugs, return_lots)
    before = {lot.inventory_id: before_own_writes(lot, applied) for lot in lots}
    return stock_plan(plans, reqs, visit, before, policy), applied


def _absorb_edits(
    uow: UnitOfWork, pid: int, encounter: int, facts: VisitFacts,
    reqs: dict[int, Requirement], held: list[HeldSale],
) -> dict[int, RecordedActual]:
    """Record the fee-sheet edits of the visit's AUTO_PROC rows as actuals (history
    included) and consume them; returns the new actuals."""
    from ..usage.domain import Actual
    from ..usage.service import absorb_fee_sheet_edits

    refs = {m: (u.drug_id, u.code_type, u.code) for m, u in facts.usage.items()}
    refs.update({m: (r.drug_id, r.code_type, r.code) for m, r in reqs.items()})
    planned = {m: r.planned_quantity for m, r in reqs.items()}
    old = {
        m: Actual(a.quantity, a.reason, a.notes, a.lot_id) for m, a in facts.actuals.items()
    }
    new = absorb_fee_sheet_edits(uow.connection, pid, encounter, facts.edits, held, planned,
                                 refs, old)
    # a fee-sheet edit replaces a named lot: the rows now sit where the biller put them
    return {m: RecordedActual(a.quantity, None, a.reason, a.notes) for m, a in new.items()}


def reconcile_in_transaction(
    uow: UnitOfWork,
    pid: int,
    encounter: int,
    *,
    service_username: str,
    today: date | None = None,
    after_writes: Callable[[Connection], None] | None = None,
    policy: LotPolicy | None = None,
) -> ReconcileResult:
    """Reconcile one visit inside the caller's unit of work (entered; no commit).

    ``today`` is the sale date of a visit without a date. ``after_writes`` is a test
    seam called after the stock writes, before the usage record (a failure there must
    roll everything back). ``policy``: which lots may be taken (default: OpenEMR's
    ``SELL_FROM_ONE_WAREHOUSE``, no blocked days).
    """
    policy = policy or DEFAULT_POLICY
    repo = uow.get(ConsumptionRepository)
    # first: the encounter row serialises reconciles of this visit, then its rows
    visit, held = repo.lock_visit_and_held(pid, encounter, today)
    if visit is None:
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    facts = repo.visit_facts(pid, encounter)
    lines, usage = facts.lines, facts.usage
    problems, blocked = mapping_problems(lines)
    reqs = requirements([ln for ln in lines if not ln.product_missing], service_username)
    for mapping_id, req in list(reqs.items()):
        problem = requirement_problem(req)
        if problem is not None:  # a per-mapping error: the other mappings go on
            problems.append(problem)
            blocked.add(mapping_id)
            del reqs[mapping_id]
    # a blocked mapping's rows and record are left exactly as they are
    held = [sale for sale in held if sale.mapping_id not in blocked]
    usage = {k: row for k, row in usage.items() if k not in blocked}
    actuals = {k: a for k, a in facts.actuals.items() if k not in blocked}
    edits = [e for e in facts.edits if e.mapping_id not in blocked]
    if edits:  # OpenEMR's fee sheet changed our rows: that is the actual usage
        actuals.update(_absorb_edits(uow, pid, encounter, replace(facts, edits=edits),
                                     reqs, held))
    reqs = apply_actuals(reqs, actuals, facts, service_username)
    plans = mapping_plans(reqs, held)
    changes, applied = allocate_under_lock(repo, plans, reqs, visit, policy)

    writes = (1 if applied else 0) + repo.adjust_lots(remaining_deltas(changes.deltas, applied))
    writes += repo.insert_sales(changes.new_sales)
    writes += repo.shrink_sales(changes.shrink)
    writes += repo.delete_sales(changes.delete)
    if after_writes is not None:
        after_writes(uow.connection)
    lines_out, usage_writes = outcomes(plans, reqs, usage, changes)
    writes += repo.upsert_usage(pid, encounter, usage_writes, datetime.now().replace(microsecond=0))
    return ReconcileResult(
        pid, encounter, tuple(lines_out), writes, changes.stock_changed, tuple(problems)
    )


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


def preflight(engine: Engine) -> None:
    """Before moving stock: an OpenEMR database, migrated, whose stock tables are InnoDB
    (MyISAM ignores transactions and row locks; SPEC section 2)."""
    with connect(engine) as conn:
        require_openemr(conn)
        require_migrated(conn)
        if len(existing_tables(conn, MODULE_TABLES)) < len(MODULE_TABLES):
            raise SchemaNotMigratedError(
                "the consumption tables are missing: run 'aesthetic-inventory migrate'"
            )
        require_innodb(conn)
