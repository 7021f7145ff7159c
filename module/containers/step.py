"""The consumption engine's container step: what a reconcile reads and writes for the
products of a visit that are counted in units.

The engine (``consumption.service``) calls :func:`gather` after it holds the visit's
lots (so containers are locked after the lots, the fixed order), plans the draws with
:func:`.engine.plan_visit_draws` inside its pure plan, writes its ``AUTO_PROC`` rows,
then calls :func:`write` with the ids of the rows it inserted. Nothing here runs for a
visit without such a product (one extra read of the product settings only).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from ..stock import domain as stock_domain
from ..stock.repository import LedgerEntry, NewPurchase, StockRepository
from .domain import Container, PackageRule, Visit
from .engine import SaleDraw, VisitDraws, plan_container_returns
from .repository import ContainerRepository, NewDraw


@dataclass(frozen=True)
class ContainerFacts:
    """The visit's products counted in units, their open containers (locked), the
    recorded draws of the visit's rows, and the encounter's date-time."""

    rules: dict[int, PackageRule]
    containers: tuple[Container, ...]
    draws: tuple[SaleDraw, ...]
    at: datetime


def counted_products(repo: ContainerRepository, drug_ids: Iterable[int]
                     ) -> dict[int, PackageRule]:
    """The products among ``drug_ids`` counted in units (one read)."""
    return {d: r for d, r in repo.package_rules(drug_ids).items() if r.counted_in_units}


def gather(repo: ContainerRepository, rules: dict[int, PackageRule], sale_ids: Iterable[int],
           *, pid: int, encounter: int, visit_date: date) -> ContainerFacts:
    """Lock the open containers of the counted products (call after locking the lots)
    and read the draws of the visit's rows and the encounter's time."""
    at = repo.visit_time(pid, encounter) or datetime.combine(visit_date, time(12, 0))
    return ContainerFacts(rules, tuple(repo.lock_open(rules)),
                          tuple(repo.draws_of_sales(sale_ids)), at)


@dataclass(frozen=True)
class StepResult:
    opened: tuple[int, ...]
    drawn_from: tuple[int, ...]
    written_off: dict[int, int]  # lot -> units returned after their container closed


def write(repo: ContainerRepository, stock: StockRepository, facts: ContainerFacts,
          draws: VisitDraws, new_sale_ids: dict[tuple[int, int], int],
          returns: Sequence[tuple[int, int, int]], *, visit: Visit, user: str,
          now: datetime) -> StepResult:
    """Write the container side of a reconcile: returns into the containers they came
    from (or, for a closed container, a count adjustment taking them out of the lot
    again), the containers opened, the units drawn, one draw row per sale and
    container. ``new_sale_ids``: (mapping, lot) -> the inserted ``AUTO_PROC`` row;
    ``returns``: (sale_id, lot, units) given back by shrunk or deleted rows."""
    boxes = {c.id: c for c in facts.containers}
    back = plan_container_returns(returns, facts.draws, boxes)
    repo.add_drawn({cid: -n for cid, n in back.given_back.items()})
    repo.set_draw_units(back.draw_units)
    _write_off_returns(stock, back.written_off, user=user, now=now)
    ids = {-(n + 1): repo.insert(new) for n, new in enumerate(draws.opened)}
    drawn: dict[int, int] = {}
    rows: dict[tuple[int, int], int] = {}
    for d in draws.draws:
        cid = ids.get(d.container_id, d.container_id)
        drawn[cid] = drawn.get(cid, 0) + d.units
        key = (new_sale_ids[(d.mapping_id, d.inventory_id)], cid)
        rows[key] = rows.get(key, 0) + d.units
    repo.add_drawn(drawn)
    repo.insert_draws([NewDraw(cid, sid, visit.pid, visit.encounter, units, facts.at)
                       for (sid, cid), units in rows.items()])
    return StepResult(tuple(ids.values()), tuple(sorted(drawn)), back.written_off)


def _write_off_returns(stock: StockRepository, lots: dict[int, int], *, user: str,
                       now: datetime) -> None:
    """Units given back to a lot after their container closed are not in any vial:
    an Adjustment (reason COUNT) takes them out again, so on_hand stays true."""
    if not lots:
        return
    locked = stock.lock_lots(lots)
    notes = "COUNT: returned by a fee sheet after its container was closed"
    sale_ids = stock.insert_sales([NewPurchase(
        locked[inv].drug_id, inv, user, now.date(), units, Decimal("0.00"),
        stock_domain.TRANS_ADJUSTMENT, notes) for inv, units in sorted(lots.items())])
    for inv, units in sorted(lots.items()):
        stock.add_to_lot(inv, -units)
    stock.insert_ledger([LedgerEntry(
        stock_domain.ADJUST, inv, locked[inv].drug_id, -units, locked[inv].unit_cost,
        "container", "returned", user, notes, "COUNT", sid)
        for (inv, units), sid in zip(sorted(lots.items()), sale_ids, strict=True)])
