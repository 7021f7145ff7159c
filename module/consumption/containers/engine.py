"""The containers step of a visit's plan (pure: no SQL).

The consumption pipeline decides per mapping how many units to take or give back;
for a product counted in units this step decides where they come from and go to:

* takes: :func:`plan_visit_draws` runs :func:`.domain.plan_draws` per mapping, in
  mapping order, on the state the previous mappings left (a vial opened for one
  mapping serves the next mapping of the same product; opened containers get
  provisional negative ids until they are written);
* returns: :func:`plan_container_returns` gives units back to the containers the
  shrunk rows drew from (newest draw first) while they are open; units whose container
  is closed go back to the lot like any return, and are then written off again with a
  count adjustment (the vial they came from is gone), so ``on_hand`` stays true.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar, cast

from .domain import Container, DrawPlan, LotLike, NewContainer, PackageRule, Visit, plan_draws

L = TypeVar("L", bound=LotLike)


@dataclass(frozen=True)
class Need:
    """What one mapping takes of a product counted in units."""

    mapping_id: int
    drug_id: int
    units: int
    warehouse: str = ""
    lot_id: int | None = None  # a lot the nurse named (chose, or scanned): only its vials
    prefer: frozenset[int] = frozenset()  # vials drawn first (the visit's own, for a lot)


@dataclass(frozen=True)
class MappingDraw:
    """``units`` of lot ``inventory_id`` for a mapping, from container ``container_id``
    (negative: the provisional id of a container this plan opens)."""

    mapping_id: int
    inventory_id: int
    container_id: int
    units: int


@dataclass(frozen=True)
class VisitDraws:
    """The containers a visit opens (provisional id -1 is ``opened[0]``...), its draws,
    and per mapping what no container could cover."""

    opened: tuple[NewContainer, ...]
    draws: tuple[MappingDraw, ...]
    shortage: dict[int, int]

    def units_by_mapping_lot(self) -> dict[tuple[int, int], int]:
        """(mapping, lot) -> units: one AUTO_PROC row each."""
        out: dict[tuple[int, int], int] = {}
        for d in self.draws:
            key = (d.mapping_id, d.inventory_id)
            out[key] = out.get(key, 0) + d.units
        return out


def _provisional(new: NewContainer, cid: int) -> Container:
    return Container(cid, new.drug_id, new.inventory_id, new.warehouse_id, new.opened_at,
                     new.beyond_use_at, new.units, 0, single_patient=new.single_patient,
                     opened_pid=new.visit.pid, opened_encounter=new.visit.encounter)


def plan_visit_draws(needs: Sequence[Need], *, rules: dict[int, PackageRule],
                     containers: Sequence[Container], lots: Sequence[L], at: datetime,
                     visit: Visit,
                     candidates: Callable[[Sequence[L], Need], Sequence[L]]) -> VisitDraws:
    """Draws for every need, each planned on what the earlier ones left.
    ``candidates(lots, need)`` is the engine's lot rule: the lots the need may open a
    container from, in sellDrug's order (for a need with a ``lot_id``: that lot, when
    it may be taken from; its open vials are then the only ones drawn)."""
    boxes = {c.id: c for c in containers}
    stock = {lot.inventory_id: lot for lot in lots}
    opened: list[NewContainer] = []
    draws: list[MappingDraw] = []
    shortage: dict[int, int] = {}
    for need in needs:
        lots_of = candidates(list(stock.values()), need)
        # a named lot: only its vials, and only while the lot itself may be taken from
        named = {x.inventory_id for x in lots_of} if need.lot_id is not None else None
        plan: DrawPlan = plan_draws(
            need.units, rule=rules[need.drug_id],
            containers=[c for c in boxes.values() if named is None or c.inventory_id in named],
            lots=lots_of, at=at, visit=visit, warehouse=need.warehouse, prefer=need.prefer)
        first_new = len(opened)
        for new in plan.opened:
            opened.append(new)
            cid = -len(opened)
            boxes[cid] = _provisional(new, cid)
        for d in plan.draws:
            cid = d.container_id if d.container_id is not None else -(first_new
                                                                       + (d.new_index or 0)
                                                                       + 1)
            boxes[cid] = replace(boxes[cid], units_drawn=boxes[cid].units_drawn + d.units)
            lot = stock[d.inventory_id]
            # the engine's lots are frozen dataclasses (the protocol cannot say so)
            stock[d.inventory_id] = cast(L, replace(cast(Any, lot), on_hand=lot.on_hand - d.units))
            draws.append(MappingDraw(need.mapping_id, d.inventory_id, cid, d.units))
        if plan.shortage:
            shortage[need.mapping_id] = plan.shortage
    return VisitDraws(tuple(opened), tuple(draws), shortage)


@dataclass(frozen=True)
class SaleDraw:
    """A recorded draw: ``units`` of sale ``sale_id`` came from ``container_id``."""

    draw_id: int
    sale_id: int
    container_id: int
    units: int


@dataclass(frozen=True)
class ContainerReturns:
    """Where returned units go: back into open containers (``given_back``, per
    container), the draw rows to shrink (``draw_units``: draw id -> units left, 0 =
    delete), and per lot the units whose container is closed (``written_off``: a count
    adjustment takes them out of the lot again)."""

    given_back: dict[int, int]
    draw_units: dict[int, int]
    written_off: dict[int, int]


def plan_container_returns(returns: Sequence[tuple[int, int, int]],
                           draws: Sequence[SaleDraw],
                           containers: dict[int, Container]) -> ContainerReturns:
    """``returns``: (sale_id, inventory_id, units) given back by shrunk or deleted
    AUTO_PROC rows. Each comes off the sale's newest draws first."""
    given: dict[int, int] = {}
    left_of: dict[int, int] = {}
    off: dict[int, int] = {}
    by_sale: dict[int, list[SaleDraw]] = {}
    for d in draws:
        by_sale.setdefault(d.sale_id, []).append(d)
    for sale_id, inventory_id, units in returns:
        rest = units
        for d in sorted(by_sale.get(sale_id, []), key=lambda x: x.draw_id, reverse=True):
            if rest <= 0:
                break
            have = left_of.get(d.draw_id, d.units)
            back = min(rest, have)
            if back <= 0:
                continue
            left_of[d.draw_id] = have - back
            rest -= back
            c = containers.get(d.container_id)
            if c is not None and c.is_open:
                given[c.id] = given.get(c.id, 0) + back
            else:
                off[inventory_id] = off.get(inventory_id, 0) + back
    return ContainerReturns(given, left_of, off)
