"""Consumption services: reconcile a visit, drain the change queue, sweep visits.

A reconcile compares what the visit's live billing lines require (per mapping) with
what its ``AUTO_PROC`` rows already hold and writes only the difference, in one
transaction, after locking the visit, those rows and the candidate lots.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from ..db import existing_tables, is_connection_error, require_innodb, require_openemr
from ..errors import UnknownVisitError
from ..unit_of_work import UnitOfWork, retry_on_lock_conflict
from ..usage.domain import allocate_from_lot, plan_mapping_in_lot
from .domain import (
    HeldSale,
    Lot,
    MappingPlan,
    MappingState,
    Requirement,
    StoredUsage,
    allocate,
    mapping_is_settled,
    merge_locked,
    parse_selector,
    plan_mapping,
    plan_still_holds,
    planned_quantity,
    selector_for,
)
from .repository import (
    ConsumptionRepository,
    MappedLine,
    NewSale,
    QueueRepository,
    RecordedActual,
    UsageRow,
    Visit,
    VisitFacts,
    sweep_always_candidates,
    sweep_suspect_visits,
    sweep_window_facts,
)

log = logging.getLogger(__name__)

MODULE_TABLES = ("aesthetic_inventory_usage", "aesthetic_inventory_change_queue",
                 # 519_20: a reconcile reads recorded actuals and fee-sheet edits
                 "aesthetic_inventory_fee_sheet_edits", "aesthetic_inventory_usage_history")


@dataclass(frozen=True)
class LotMovement:
    """Units taken from (positive) or returned to (negative) one lot; lot 0 = no lot."""

    inventory_id: int
    lot_number: str | None
    quantity: int


@dataclass(frozen=True)
class MappingOutcome:
    mapping_id: int
    drug_id: int
    code_type: str
    code: str
    planned_quantity: Decimal
    required: int
    allocated: int
    shortage: int
    added: int
    returned: int
    lots: tuple[LotMovement, ...] = ()
    product_name: str = ""


@dataclass(frozen=True)
class ReconcileResult:
    """What a reconcile of one visit found and changed."""

    pid: int
    encounter: int
    lines: tuple[MappingOutcome, ...]
    writes: int
    changed: bool

    @property
    def shortage(self) -> int:
        return sum(line.shortage for line in self.lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "encounter": self.encounter,
            "changed": self.changed,
            "writes": self.writes,
            "mappings": [
                {
                    "mapping_id": m.mapping_id,
                    "drug_id": m.drug_id,
                    "product": m.product_name,
                    "code_type": m.code_type,
                    "code": m.code,
                    "planned_quantity": str(m.planned_quantity),
                    "required": m.required,
                    "allocated": m.allocated,
                    "shortage": m.shortage,
                    "added": m.added,
                    "returned": m.returned,
                    "lots": [
                        {"inventory_id": lot.inventory_id, "lot_number": lot.lot_number,
                         "quantity": lot.quantity}
                        for lot in m.lots
                    ],
                }
                for m in self.lines
            ],
        }


@dataclass(frozen=True)
class DrainResult:
    """Visits reconciled from the queue; ``skipped``: claimed by another worker or no
    such visit; ``failed``: a database error, left queued for the next run."""

    visits: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    results: tuple[ReconcileResult, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class SweepResult:
    """Visits the sweep reconciled; ``failed`` ones hit a database error (logged)."""

    since: date
    visits: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    shortage_units: int = 0
    results: tuple[ReconcileResult, ...] = field(default=(), repr=False)
    checked: int = 0  # window visits the server-side filter passed to the exact check


def apply_actuals(
    reqs: dict[int, Requirement], actuals: dict[int, RecordedActual], facts: VisitFacts,
    service_username: str,
) -> dict[int, Requirement]:
    """Requirements whose target is the recorded actual (and its named lot). A mapping
    with an actual but no live line any more still holds its actual (the material was
    used); its plan is 0."""
    out = dict(reqs)
    for mapping_id, actual in actuals.items():
        req = out.get(mapping_id)
        if req is None:
            usage = facts.usage.get(mapping_id)
            product = facts.products.get(mapping_id)
            if usage is None or product is None:
                continue  # product deleted: nothing to hold
            req = Requirement(
                mapping_id=mapping_id, drug_id=usage.drug_id, code_type=usage.code_type,
                code=usage.code, planned_quantity=Decimal(0), allow_combining=product[0],
                dispensable=product[1], username=service_username, product_name=product[2],
            )
        out[mapping_id] = replace(req, actual_quantity=actual.quantity, lot_id=actual.lot_id)
    return out


def _absorb_edits(
    conn: Connection, pid: int, encounter: int, facts: VisitFacts,
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
    new = absorb_fee_sheet_edits(conn, pid, encounter, facts.edits, held, planned, refs, old)
    # a fee-sheet edit replaces a named lot: the rows now sit where the biller put them
    return {m: RecordedActual(a.quantity, None, a.reason, a.notes) for m, a in new.items()}


def _requirements(lines: list[MappedLine], service_username: str) -> dict[int, Requirement]:
    """Aggregate line rows into one requirement per mapping; the sale user (and so the
    default warehouse) is the user of the mapping's most recent live line."""
    by_mapping: dict[int, list[MappedLine]] = defaultdict(list)
    for line in lines:
        by_mapping[line.mapping_id].append(line)
    reqs: dict[int, Requirement] = {}
    for mapping_id, group in by_mapping.items():
        last = max(group, key=lambda ln: ln.line_id)
        reqs[mapping_id] = Requirement(
            mapping_id=mapping_id,
            drug_id=last.drug_id,
            code_type=last.code_type,
            code=last.code,
            planned_quantity=planned_quantity((ln.units for ln in group), last.per_unit),
            allow_combining=last.allow_combining,
            dispensable=last.dispensable,
            username=last.username or service_username,
            default_warehouse=last.default_warehouse if last.username else "",
            product_name=last.product_name,
        )
    return reqs


@dataclass
class _Changes:
    """Writes a reconcile has decided on, accumulated before they are sent in batches."""

    lots: dict[int, Lot]
    deltas: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    new_sales: list[NewSale] = field(default_factory=list)
    shrink: dict[int, int] = field(default_factory=dict)
    delete: list[int] = field(default_factory=list)
    movements: dict[int, list[LotMovement]] = field(default_factory=lambda: defaultdict(list))
    allocated: dict[int, int] = field(default_factory=dict)
    shortage: dict[int, int] = field(default_factory=dict)

    @property
    def stock_changed(self) -> bool:
        return bool(self.new_sales or self.shrink or self.delete)

    def move(self, key: int, inventory_id: int, quantity: int) -> None:
        """Record ``quantity`` units taken from (positive) or given back to (negative) a lot,
        keeping the in-memory lot current so later mappings see the new stock."""
        lot = self.lots.get(inventory_id)
        if inventory_id:
            self.deltas[inventory_id] -= quantity
            if lot is not None:
                self.lots[inventory_id] = replace(lot, on_hand=lot.on_hand - quantity)
        number = lot.lot_number if lot is not None else None
        self.movements[key].append(LotMovement(inventory_id, number, quantity))


def _plans(
    reqs: dict[int, Requirement], held: list[HeldSale]
) -> dict[int, MappingPlan]:
    """One plan per mapping. Rows of a mapping whose product was changed since are keyed
    by ``-sale_id`` and planned as "required 0", so they go back to their lots."""
    held_by: dict[int, list[HeldSale]] = defaultdict(list)
    for sale in held:
        req = reqs.get(sale.mapping_id)
        key = sale.mapping_id if req is None or req.drug_id == sale.drug_id else -sale.sale_id
        held_by[key].append(sale)
    plans: dict[int, MappingPlan] = {}
    for key in sorted(set(reqs) | set(held_by), key=abs):
        req = reqs.get(key)
        sales = held_by.get(key, [])
        if req is not None and req.lot_id is not None:
            # the actual names the lot used: the units move there
            plans[key] = plan_mapping_in_lot(key, req.drug_id, req.required_units, sales,
                                             req.lot_id)
        elif req is not None:
            plans[key] = plan_mapping(key, req.drug_id, req.required_units, sales)
        else:
            plans[key] = plan_mapping(sales[0].mapping_id, sales[0].drug_id, 0, sales)
    return plans


def _apply_returns(plans: dict[int, MappingPlan], changes: _Changes) -> None:
    """Give surplus back first, so stock freed by one mapping can serve another."""
    for key, plan in plans.items():
        for step in plan.returns:
            changes.move(key, step.inventory_id, -step.quantity)
            if step.remaining:
                changes.shrink[step.sale_id] = step.remaining
            else:
                changes.delete.append(step.sale_id)
        changes.allocated[key] = plan.held - sum(s.quantity for s in plan.returns)
        changes.shortage[key] = max(plan.required - changes.allocated[key], 0)


def _apply_takes(
    plans: dict[int, MappingPlan], reqs: dict[int, Requirement], visit: Visit,
    changes: _Changes,
) -> None:
    """Allocate each missing difference from the lots (sellDrug rules, current stock)."""
    for key, plan in plans.items():
        if plan.take <= 0:
            continue
        req = reqs[key]
        if req.lot_id is not None:
            result = allocate_from_lot(changes.lots.get(req.lot_id), req.drug_id, plan.take)
        else:
            result = allocate(
                req, list(changes.lots.values()), quantity=plan.take,
                sale_date=visit.visit_date,
            )
        for alloc in result.allocations:
            changes.move(key, alloc.inventory_id, alloc.quantity)
            changes.new_sales.append(
                NewSale(
                    drug_id=req.drug_id,
                    inventory_id=alloc.inventory_id,
                    pid=visit.pid,
                    encounter=visit.encounter,
                    user=req.username,
                    sale_date=visit.visit_date,
                    quantity=alloc.quantity,
                    selector=selector_for(req.mapping_id),
                )
            )
        changes.allocated[key] += result.allocated
        changes.shortage[key] = result.shortage


def _outcomes(
    plans: dict[int, MappingPlan],
    reqs: dict[int, Requirement],
    usage: dict[int, UsageRow],
    changes: _Changes,
) -> tuple[list[MappingOutcome], list[UsageRow]]:
    """Per-mapping results and the usage records that differ from the stored ones."""
    outcomes: list[MappingOutcome] = []
    usage_writes: list[UsageRow] = []
    by_mapping: dict[int, list[int]] = defaultdict(list)
    for key, plan in plans.items():
        by_mapping[plan.mapping_id].append(key)
    for mapping_id in sorted(by_mapping):
        group = by_mapping[mapping_id]
        req = reqs.get(mapping_id)
        old = usage.get(mapping_id)
        # a mapping without live lines keeps the code its record was written with
        code_type, code = (req.code_type, req.code) if req else (
            (old.code_type, old.code) if old else ("", "")
        )
        row = UsageRow(
            mapping_id=mapping_id,
            drug_id=req.drug_id if req else plans[group[0]].drug_id,
            planned_quantity=req.planned_quantity if req else Decimal(0),
            required_units=req.required_units if req else 0,
            allocated_units=sum(changes.allocated[k] for k in group),
            shortage_units=sum(changes.shortage[k] for k in group),
            code_type=code_type,
            code=code,
        )
        if old != row and (old is not None or row != _zero_usage(row)):
            usage_writes.append(row)
        moves = tuple(m for k in group for m in changes.movements[k])
        outcomes.append(
            MappingOutcome(
                mapping_id=mapping_id,
                drug_id=row.drug_id,
                code_type=code_type,
                code=code,
                planned_quantity=row.planned_quantity,
                required=row.required_units,
                allocated=row.allocated_units,
                shortage=row.shortage_units,
                added=sum(m.quantity for m in moves if m.quantity > 0),
                returned=-sum(m.quantity for m in moves if m.quantity < 0),
                lots=moves,
                product_name=req.product_name if req else "",
            )
        )
    # a stored record whose mapping no longer appears at all: nothing required, nothing held
    for mapping_id, old in usage.items():
        if mapping_id not in by_mapping and old != _zero_usage(old):
            usage_writes.append(_zero_usage(old))
    return outcomes, usage_writes


def _zero_usage(row: UsageRow) -> UsageRow:
    """The record of a mapping that needs and holds nothing (code kept)."""
    return replace(row, planned_quantity=Decimal(0), required_units=0, allocated_units=0,
                   shortage_units=0)


def _stock_plan(
    plans: dict[int, MappingPlan], reqs: dict[int, Requirement], visit: Visit,
    lots: dict[int, Lot],
) -> _Changes:
    """Returns first, then takes, on the given lot state (pure, no SQL)."""
    changes = _Changes(lots=dict(lots))
    _apply_returns(plans, changes)
    _apply_takes(plans, reqs, visit, changes)
    return changes


def _cutoffs(plans: dict[int, MappingPlan], reqs: dict[int, Requirement]) -> dict:  # type: ignore[type-arg]
    """Units per product for the snapshot's running-total cut: only products whose
    every taking requirement allows combining (without combining one lot must cover the
    whole quantity, which a running total cannot tell), and only when all taking
    requirements share one default warehouse (it leads the lot order)."""
    taking = [reqs[key] for key, plan in plans.items()
              if plan.take > 0 and reqs[key].dispensable and reqs[key].lot_id is None]
    warehouses = {req.default_warehouse for req in taking}
    if len(warehouses) != 1:
        return {}
    units: dict[int, int] = defaultdict(int)
    combining: dict[int, bool] = defaultdict(lambda: True)
    for key, plan in plans.items():
        req = reqs.get(key)
        if plan.take > 0 and req is not None and req.dispensable and req.lot_id is None:
            units[req.drug_id] += plan.take
            combining[req.drug_id] &= req.allow_combining
    needs = {drug: n for drug, n in units.items() if combining[drug]}
    return {"needs": needs, "default_warehouse": warehouses.pop()} if needs else {}


def _allocate_under_lock(
    repo: ConsumptionRepository, plans: dict[int, MappingPlan],
    reqs: dict[int, Requirement], visit: Visit,
) -> tuple[_Changes, dict[int, int]]:
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
        return _stock_plan(plans, reqs, visit, {}), {}
    if not take_drugs:  # returns only: their lots are known, lock them straight away
        lots = repo.lock_lots((), return_lots)
        return _stock_plan(plans, reqs, visit, {lot.inventory_id: lot for lot in lots}), {}
    snapshot = {
        lot.inventory_id: lot
        for lot in repo.candidate_lots(
            take_drugs, return_lots, sale_date=visit.visit_date, **_cutoffs(plans, reqs)
        )
    }
    changes = _stock_plan(plans, reqs, visit, snapshot)
    applied = {lot_id: delta for lot_id, delta in changes.deltas.items() if delta and lot_id}
    if repo.adjust_lots_as_planned(applied, snapshot):
        return changes, applied  # nothing the plan relies on changed between read and lock
    touched = sorted(applied)
    seqs = {lot.warehouse_id: lot.warehouse_seq for lot in snapshot.values()}
    # the touched lots are ours now; their state when locked is today's minus our deltas
    locked = repo.lock_lots_by_id(touched, seqs)
    if locked is not None:
        locked = [_before(lot, applied) for lot in locked]
        replanned = _stock_plan(plans, reqs, visit, merge_locked(snapshot, touched, locked))
        # the snapshot may end where the first plan's lots did (running-total cut): a
        # re-plan that now falls short might have needed lots it never saw
        no_worse = sum(replanned.shortage.values()) <= sum(changes.shortage.values())
        if no_worse and plan_still_holds(replanned.deltas, (lot.inventory_id for lot in locked)):
            return replanned, applied
    lots = repo.lock_lots(take_drugs, return_lots)
    before = {lot.inventory_id: _before(lot, applied) for lot in lots}
    return _stock_plan(plans, reqs, visit, before), applied


def _before(lot: Lot, applied: dict[int, int]) -> Lot:
    """A lot as it was before this transaction's own ``applied`` deltas."""
    delta = applied.get(lot.inventory_id, 0)
    return replace(lot, on_hand=lot.on_hand - delta) if delta else lot


def _remaining(deltas: dict[int, int], applied: dict[int, int]) -> dict[int, int]:
    """What is still to be written: the plan's deltas minus those already written."""
    return {k: deltas.get(k, 0) - applied.get(k, 0) for k in set(deltas) | set(applied)}


def reconcile_in_transaction(
    conn: Connection,
    pid: int,
    encounter: int,
    *,
    service_username: str,
    today: date | None = None,
    after_writes: Callable[[Connection], None] | None = None,
) -> ReconcileResult:
    """Reconcile one visit on ``conn`` inside the caller's transaction (no commit).

    ``today`` is the sale date of a visit without a date. ``after_writes`` is a test
    seam called after the stock writes, before the usage record (a failure there must
    roll everything back).
    """
    repo = ConsumptionRepository(conn)
    # first: the encounter row serialises reconciles of this visit, then its rows
    visit, held = repo.lock_visit_and_held(pid, encounter, today)
    if visit is None:
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    facts = repo.visit_facts(pid, encounter)
    lines, usage = facts.lines, facts.usage
    reqs = _requirements(lines, service_username)
    actuals = facts.actuals
    if facts.edits:  # OpenEMR's fee sheet changed our rows: that is the actual usage
        actuals = {**actuals, **_absorb_edits(conn, pid, encounter, facts, reqs, held)}
    reqs = apply_actuals(reqs, actuals, facts, service_username)
    plans = _plans(reqs, held)
    changes, applied = _allocate_under_lock(repo, plans, reqs, visit)

    writes = (1 if applied else 0) + repo.adjust_lots(_remaining(changes.deltas, applied))
    writes += repo.insert_sales(changes.new_sales)
    writes += repo.shrink_sales(changes.shrink)
    writes += repo.delete_sales(changes.delete)
    if after_writes is not None:
        after_writes(conn)
    outcomes, usage_writes = _outcomes(plans, reqs, usage, changes)
    writes += repo.upsert_usage(pid, encounter, usage_writes, datetime.now().replace(microsecond=0))
    return ReconcileResult(pid, encounter, tuple(outcomes), writes, changes.stock_changed)


def reconcile_visit(
    uow: UnitOfWork,
    pid: int,
    encounter: int,
    *,
    service_username: str,
    today: date | None = None,
    after_writes: Callable[[Connection], None] | None = None,
) -> ReconcileResult:
    """Reconcile one visit in one transaction (``uow`` not yet entered), retrying the
    whole transaction on deadlock or lock wait timeout."""

    def work() -> ReconcileResult:
        with uow:
            result = reconcile_in_transaction(
                uow.connection,
                pid,
                encounter,
                service_username=service_username,
                today=today,
                after_writes=after_writes,
            )
            uow.commit()
            return result

    return retry_on_lock_conflict(work)


def preflight(engine: Engine) -> None:
    """Before moving stock: an OpenEMR database, migrated, whose stock tables are InnoDB
    (MyISAM ignores transactions and row locks; SPEC section 2)."""
    from ..install.service import SchemaNotMigratedError, require_migrated

    with engine.connect() as conn:
        require_openemr(conn)
        require_migrated(conn)
        if len(existing_tables(conn, MODULE_TABLES)) < len(MODULE_TABLES):
            raise SchemaNotMigratedError(
                "the consumption tables are missing: run 'aesthetic-inventory migrate'"
            )
        require_innodb(conn)


def drain_change_queue(
    engine: Engine, *, service_username: str, batch_size: int = 200
) -> DrainResult:
    """Reconcile the visits queued by the billing triggers.

    One cheap read when the queue is empty. Each visit is one transaction that claims
    its queue rows (``FOR UPDATE SKIP LOCKED``, so two workers never reconcile the same
    rows), reconciles, and deletes those rows; a worker killed midway rolls back and
    leaves them for the next run.
    """
    with engine.connect() as conn:
        visits = QueueRepository(conn).pending_visits(batch_size)
        conn.rollback()

    def drain_one(pid: int, encounter: int) -> ReconcileResult | None:
        with UnitOfWork(engine) as uow:
            queue = QueueRepository(uow.connection)
            ids = queue.claim(pid, encounter)
            if not ids:
                return None  # another worker has them
            try:
                result: ReconcileResult | None = reconcile_in_transaction(
                    uow.connection, pid, encounter, service_username=service_username
                )
            except UnknownVisitError:
                # lines of a visit without an encounter row: nothing to move, and
                # nothing was written before the visit check
                result = None
            queue.delete(ids)
            uow.commit()
            return result

    results, skipped, failed = _reconcile_each(visits, drain_one)
    return DrainResult(
        visits=len(results),
        changed=sum(1 for r in results if r.changed),
        skipped=skipped,
        failed=failed,
        results=tuple(results),
    )


def _reconcile_each(
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
        first = (str(getattr(exc, "orig", exc)).splitlines() or [""])[0][:200]
        log.warning("visit pid %s encounter %s not reconciled: %s", pid, encounter, first)
        return None, False


def _unsettled_visits(facts: list[tuple]) -> tuple[set[tuple[int, int]], int]:  # type: ignore[type-arg]
    """From :func:`sweep_window_facts` rows: the window's visits a reconcile would
    change (per :func:`mapping_is_settled`), and how many visits were checked."""
    live: dict[tuple[int, int, int], tuple[int, int, Decimal]] = {}
    held: dict[tuple[int, int, int], list[tuple[int, int, bool]]] = defaultdict(list)
    usage: dict[tuple[int, int, int], StoredUsage] = {}
    visits: set[tuple[int, int]] = set()
    for kind, pid, enc, mapping_id, drug_id, n1, dec, n2, n3, selector in facts:
        visit = (int(pid), int(enc))
        visits.add(visit)
        if kind == 0:
            live[(*visit, int(mapping_id))] = (int(drug_id), int(n1), Decimal(dec))
        elif kind == 1:
            parsed = parse_selector(selector)
            if parsed is not None:  # a hand-edited selector is not ours (reconcile agrees)
                held[(*visit, parsed)].append((int(drug_id), int(n1), bool(n2)))
        else:
            usage[(*visit, int(mapping_id))] = StoredUsage(
                int(drug_id), Decimal(dec), int(n1), int(n2), int(n3),
                None if selector is None else Decimal(str(selector)),
            )
    unsettled: set[tuple[int, int]] = set()
    for key in set(live) | set(held) | set(usage):
        drug_id, units, per_unit = live.get(key, (None, 0, Decimal(0)))
        rows = held.get(key, [])
        same = [r for r in rows if drug_id is None or r[0] == drug_id]
        state = MappingState(
            mapping_id=key[2],
            drug_id=drug_id,
            live_units=units,
            per_unit=per_unit,
            held=sum(q for _, q, _ in same),
            held_unbilled=sum(q for _, q, billed in same if not billed),
            held_other_drug=sum(abs(q) for d, q, _ in rows if drug_id is not None and d != drug_id),
            usage=usage.get(key),
        )
        if not mapping_is_settled(state):
            unsettled.add((key[0], key[1]))
    return unsettled, len(visits)


def sweep_visits(
    engine: Engine,
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
    with engine.connect() as conn:
        suspects = sweep_suspect_visits(conn, since)
        unsettled: set[tuple[int, int]] = set()
        checked = 0
        if suspects:  # only then are the window's facts worth shipping to Python
            unsettled, checked = _unsettled_visits(sweep_window_facts(conn, since))
            unsettled &= suspects
        visits = sorted(unsettled | set(sweep_always_candidates(conn)))
        conn.rollback()

    def sweep_one(pid: int, encounter: int) -> ReconcileResult | None:
        with UnitOfWork(engine) as uow:
            try:
                result = reconcile_in_transaction(
                    uow.connection, pid, encounter,
                    service_username=service_username, today=today,
                )
            except UnknownVisitError:
                return None
            uow.commit()
            return result

    results, skipped, failed = _reconcile_each(visits, sweep_one)
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
