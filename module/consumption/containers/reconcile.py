"""Containers inside a visit's reconcile: the stock plan of a visit that needs a
product counted in units, and its locking and container writes.

The consumption engine calls :func:`counted_products` once per reconcile (one read of
the product settings); only when the visit needs such a product does it call
:func:`lock_and_plan` instead of its own lot allocation, write its rows as usual, then
call :func:`write_containers`. Previews call :func:`container_stock_plan` on the same
facts read without locks, so they show the container draws too.

Lock order: every candidate lot of the products taken (and the lots returns go to) in
one ascending ``inventory_id`` statement, then the open containers of the counted
products in ascending id: the order ``use``, ``containers close`` and the waste job
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
from ..planning import NewSale, StockChanges, Visit, apply_returns, apply_takes
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
    """Mappings whose takes come from containers (a named lot keeps its own rule)."""
    return {k for k, p in plans.items() if p.take > 0 and k in reqs
            and reqs[k].drug_id in rules and reqs[k].dispensable and reqs[k].lot_id is None}


def container_stock_plan(plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
                         visit: Visit, lots: dict[int, Lot], facts: ContainerFacts,
                         policy: LotPolicy = DEFAULT_POLICY
                         ) -> tuple[StockChanges, VisitDraws]:
    """The engine's stock plan with containers (pure): returns first, the other
    products' takes as always, then the counted products' takes drawn from containers
    (one ``AUTO_PROC`` row per mapping and lot)."""
    changes = StockChanges(lots=dict(lots))
    apply_returns(plans, changes)
    counted = _counted_keys(plans, reqs, facts.rules)
    apply_takes({k: p for k, p in plans.items() if k not in counted}, reqs, visit, changes,
                policy)
    wanted = {k: reqs[k].default_warehouse for k in counted}

    def candidates(ls: Sequence[Lot], need: Need) -> list[Lot]:
        wh = wanted[need.mapping_id]
        return sorted((x for x in ls if lot_is_candidate(
            x, sale_date=visit.visit_date, default_warehouse=wh, policy=policy)),
            key=lambda x: lot_sort_key(x, wh))

    needs = [Need(k, reqs[k].drug_id, plans[k].take,
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


def _returns(plans: dict[int, MappingPlan], rules: Mapping[int, object]
             ) -> tuple[tuple[int, int, int], ...]:
    return tuple((s.sale_id, s.inventory_id, s.quantity) for p in plans.values()
                 if p.drug_id in rules for s in p.returns)


def lock_and_plan(uow: UnitOfWork, plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
                  visit: Visit, counted: Counted, policy: LotPolicy
                  ) -> tuple[StockChanges, CountedPlan]:
    """Lock the lots (every candidate of the products taken, the lots returns go to)
    and, right after each, its open containers, in one statement; plan on that locked
    state (no optimistic snapshot: the containers are read under the lots' locks)."""
    take_drugs, return_lots = _lots_to_read(plans, reqs)
    returns = _returns(plans, counted.rules)
    boxes = uow.get(ContainerRepository)
    taken = tuple(boxes.draws_of_sales(r[0] for r in returns))  # no read without returns
    locked, vials = boxes.lock_lots_and_open(take_drugs, return_lots, counted.rules,
                                             also=(d.container_id for d in taken))
    facts = ContainerFacts(counted.rules, tuple(vials), taken, counted.at)
    changes, draws = container_stock_plan(plans, reqs, visit,
                                          {x.inventory_id: x for x in locked}, facts, policy)
    return changes, CountedPlan(facts, draws, returns)


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
    """What :func:`lock_and_plan` would decide, on lots and containers read without
    locks (``consume --dry-run``, ``visit show``, the usage preview)."""
    take_drugs, return_lots = _lots_to_read(plans, reqs)
    lots = {x.inventory_id: x for x in
            ConsumptionRepository(conn).candidate_lots(take_drugs, return_lots)}
    boxes = ContainerRepository(conn)
    facts = ContainerFacts(counted.rules, tuple(boxes.lock_open(counted.rules, lock=False)),
                           (), counted.at)
    return container_stock_plan(plans, reqs, visit, lots, facts, policy)[0]


def write_containers(uow: UnitOfWork, counted: CountedPlan, visit: Visit, *, user: str,
                     now: datetime) -> StepResult:
    """After the engine inserted its rows: open the planned containers, record the
    draws against the new rows, put returns back into their containers."""
    return step.write(uow.get(ContainerRepository), uow.get(StockRepository), counted.facts,
                      counted.draws, None, counted.returns,
                      visit=DrawVisit(visit.pid, visit.encounter), user=user, now=now)
