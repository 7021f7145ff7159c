"""Containers inside a visit's reconcile: the stock plan of a visit that needs a
product counted in units, and its locking and container writes.

The consumption engine calls :func:`counted_products` once per reconcile (one read of
the product settings); only when the visit needs such a product does it call
:func:`lock_and_plan` instead of its own lot allocation, write its rows as usual, then
call :func:`write_containers`. Previews call :func:`container_stock_plan` on the same
read, so they show the container draws too.

Locks: the lots a plan writes, in ascending ``inventory_id`` (the engine's checked lot
UPDATE); the containers ride on their lots' locks (every writer of a container holds its
lot's lock first), and the draw INSERT checks that the containers drawn from are as the
plan read them. On a stale read the lots, each followed by its open containers, are
locked in one statement: the order ``use``, ``containers close`` and the waste job
follow too (after the product row, which the engine never locks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Connection

from ...stock.repository import StockRepository
from ...unit_of_work import UnitOfWork
from ..domain import (
    DEFAULT_POLICY,
    Lot,
    LotPolicy,
    MappingPlan,
    Requirement,
    lot_is_candidate,
    lot_sort_key,
    selector_for,
)
from ..planning import (
    NewSale,
    StockChanges,
    Visit,
    apply_returns,
    apply_takes,
    before_own_writes,
)
from ..repositories import ConsumptionRepository
from . import step
from .domain import Visit as DrawVisit
from .engine import Need, VisitDraws, plan_visit_draws
from .repository import ContainerRepository
from .step import ContainerFacts, Counted, StepResult, counted_products

__all__ = ["Counted", "CountedPlan", "container_stock_plan", "counted_products",
           "lock_and_plan", "preview_plan", "write_containers"]


def _counted_keys(plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
                  rules: Mapping[int, object]) -> set[int]:
    """Mappings whose takes come from containers (a named lot: from that lot's vials)."""
    return {k for k, p in plans.items() if p.take > 0 and k in reqs
            and reqs[k].drug_id in rules and reqs[k].dispensable}


def _named_lot_takes(plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
                     rules: Mapping[int, object]) -> bool:
    """Whether a product counted in units is taken from a lot the nurse named."""
    return any(reqs[k].lot_id is not None for k in _counted_keys(plans, reqs, rules))


def container_stock_plan(plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
                         visit: Visit, lots: dict[int, Lot], facts: ContainerFacts,
                         policy: LotPolicy = DEFAULT_POLICY
                         ) -> tuple[StockChanges, VisitDraws]:
    """The engine's stock plan with containers (pure): returns first, the other
    products' takes as always, then the counted products' takes drawn from containers
    (one ``AUTO_PROC`` row per mapping and lot, after every other new row)."""
    changes = StockChanges(lots=dict(lots))
    apply_returns(plans, changes)
    counted = _counted_keys(plans, reqs, facts.rules)
    apply_takes({k: p for k, p in plans.items() if k not in counted}, reqs, visit, changes,
                policy)
    wanted = {k: reqs[k].default_warehouse for k in counted}

    def candidates(ls: Sequence[Lot], need: Need) -> list[Lot]:
        if need.lot_id is not None:  # the named lot only, as allocate_from_lot takes it
            return [x for x in ls if x.inventory_id == need.lot_id
                    and x.drug_id == need.drug_id and not x.destroyed and x.on_hand > 0]
        wh = wanted[need.mapping_id]
        return sorted((x for x in ls if lot_is_candidate(
            x, sale_date=visit.visit_date, default_warehouse=wh, policy=policy)),
            key=lambda x: lot_sort_key(x, wh))

    # a named lot (a chosen or scanned vial): the vial the visit already draws from,
    # else the lot's oldest open one in any warehouse, else a new one from that lot
    needs = [Need(k, reqs[k].drug_id, plans[k].take, "", reqs[k].lot_id, facts.visit_vials)
             if reqs[k].lot_id is not None else
             Need(k, reqs[k].drug_id, plans[k].take,
                  policy.only_warehouse(reqs[k].default_warehouse) or "")
             for k in sorted(counted)]
    draws = plan_visit_draws(needs, rules=facts.rules, containers=facts.containers,
                             lots=list(changes.lots.values()), at=facts.at,
                             visit=DrawVisit(visit.pid, visit.encounter), candidates=candidates)
    for (key, inv), units in draws.units_by_mapping_lot().items():
        req = reqs[key]
        changes.move(key, inv, units)
        changes.new_sales.append(NewSale(
            drug_id=req.drug_id, inventory_id=inv, pid=visit.pid, encounter=visit.encounter,
            user=req.username, sale_date=visit.visit_date, quantity=units,
            selector=selector_for(req.mapping_id)))
        changes.allocated[key] += units
    for key in counted:
        changes.shortage[key] = draws.shortage.get(key, 0)
    return changes, draws


@dataclass(frozen=True)
class CountedPlan:
    """What :func:`write_containers` needs after the engine wrote its rows."""

    facts: ContainerFacts
    draws: VisitDraws
    returns: tuple[tuple[int, int, int], ...]  # (sale_id, lot, units) of counted products
    checked: bool = False  # containers read unlocked: the draw INSERT checks them

    @property
    def drawn_rows(self) -> int:
        """How many of the plan's new rows are drawn from containers: the last ones of
        ``changes.new_sales`` (:func:`container_stock_plan`); their draw rows write
        their ledger rows (:mod:`.triggers`)."""
        return len(self.draws.units_by_mapping_lot())


def _returns(plans: dict[int, MappingPlan], rules: Mapping[int, object]
             ) -> tuple[tuple[int, int, int], ...]:
    return tuple((s.sale_id, s.inventory_id, s.quantity) for p in plans.values()
                 if p.drug_id in rules for s in p.returns)


def lock_and_plan(uow: UnitOfWork, plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
                  visit: Visit, counted: Counted, policy: LotPolicy
                  ) -> tuple[StockChanges, dict[int, int], CountedPlan]:
    """Plan on one unlocked read of the lots and their open containers, then write the
    lots' deltas with the engine's checked UPDATE, which locks them (inventory_id
    order) and checks them under the lock, as a plain product's reconcile does. The
    containers ride on their lots' locks: every writer of a container holds its lot's
    lock, and the draw INSERT checks the containers read (:func:`write_containers`).
    When a lot differs, or a lot drawn from has no delta to lock it, the lots and
    right after each its open containers are locked in one statement and the plan is
    made again on that state (before this transaction's own writes).

    Returns the changes, the deltas already written (the caller writes the rest) and
    what :func:`write_containers` needs."""
    take_drugs, return_lots = _lots_to_read(plans, reqs)
    returns = _returns(plans, counted.rules)
    boxes = uow.get(ContainerRepository)
    taken = tuple(boxes.draws_of_sales(r[0] for r in returns))  # no read without returns
    also = {d.container_id for d in taken}
    lots, vials = boxes.lots_and_open(take_drugs, return_lots, counted.rules, also)
    snapshot = {x.inventory_id: x for x in lots}
    mine = _visit_vials(boxes, plans, reqs, visit, counted)
    facts = ContainerFacts(counted.rules, tuple(vials), taken, counted.at, mine)
    changes, draws = container_stock_plan(plans, reqs, visit, snapshot, facts, policy)
    applied = {k: v for k, v in changes.deltas.items() if v and k}
    drawn = {d.inventory_id for d in draws.draws}
    if drawn <= set(applied) <= set(snapshot):
        if uow.get(ConsumptionRepository).adjust_lots_as_planned(applied, snapshot):
            return changes, applied, CountedPlan(facts, draws, returns, checked=True)
    else:
        applied = {}
    locked, vials = boxes.lots_and_open(take_drugs, return_lots | set(applied),
                                        counted.rules, also, lock=True)
    facts = ContainerFacts(counted.rules, tuple(vials), taken, counted.at, mine)
    changes, draws = container_stock_plan(
        plans, reqs, visit, {x.inventory_id: before_own_writes(x, applied) for x in locked},
        facts, policy)
    return changes, applied, CountedPlan(facts, draws, returns)


def _visit_vials(boxes: ContainerRepository, plans: dict[int, MappingPlan],
                 reqs: dict[int, Requirement], visit: Visit, counted: Counted
                 ) -> frozenset[int]:
    """The vials the visit already draws from, read only when a lot was named."""
    if not _named_lot_takes(plans, reqs, counted.rules):
        return frozenset()
    return frozenset(boxes.vials_of_visit(visit.pid, visit.encounter))


def _lots_to_read(plans: dict[int, MappingPlan], reqs: dict[int, Requirement]
                  ) -> tuple[set[int], set[int]]:
    """Every candidate lot of the products taken (no running-total cut: open containers
    change what a lot has sealed), and the lots returns go to or an actual names."""
    take_drugs = {reqs[k].drug_id for k, p in plans.items()
                  if p.take > 0 and k in reqs and reqs[k].dispensable}
    return_lots = {s.inventory_id for p in plans.values() for s in p.returns if s.inventory_id}
    return take_drugs, return_lots | {r.lot_id for r in reqs.values() if r.lot_id}


def preview_plan(conn: Connection, plans: dict[int, MappingPlan],
                 reqs: dict[int, Requirement], visit: Visit, counted: Counted,
                 policy: LotPolicy) -> StockChanges:
    """What :func:`lock_and_plan` would decide: the same plan on the same read of lots
    and containers (``consume --dry-run``, ``visit show``, the usage preview)."""
    take_drugs, return_lots = _lots_to_read(plans, reqs)
    # (the containers that take returns matter to the writes only, not to the plan)
    boxes = ContainerRepository(conn)
    lots, vials = boxes.lots_and_open(take_drugs, return_lots, counted.rules)
    facts = ContainerFacts(counted.rules, tuple(vials), (), counted.at,
                           _visit_vials(boxes, plans, reqs, visit, counted))
    return container_stock_plan(plans, reqs, visit, {x.inventory_id: x for x in lots}, facts,
                                policy)[0]


def write_containers(uow: UnitOfWork, counted: CountedPlan, visit: Visit,
                     new_sales: Sequence[NewSale], first_sale_id: int, *, user: str,
                     now: datetime) -> StepResult:
    """After the engine inserted its rows (``new_sales``, one INSERT from
    ``first_sale_id`` on): open the planned containers, record the draws against the
    new rows, put returns back into their containers."""
    rows = step.inserted_rows([(s.selector, s.inventory_id) for s in new_sales], first_sale_id)
    return step.write(uow.get(ContainerRepository), uow.get(StockRepository), counted.facts,
                      counted.draws, rows, counted.returns,
                      visit=DrawVisit(visit.pid, visit.encounter), user=user, now=now,
                      checked=counted.checked)
