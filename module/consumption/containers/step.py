"""The consumption engine's container step: what a reconcile reads and writes for the
products of a visit that are counted in units.

The engine (``consumption.service``, through :mod:`.reconcile`) locks the visit's lots
and their open containers in one statement (containers right after their lot), plans
the draws with :func:`.engine.plan_visit_draws` inside its pure plan, writes its
``AUTO_PROC`` rows, then calls :func:`write`. Nothing here runs for a
visit without such a product (one extra read of the product settings only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal

from ...db import StaleReadError
from ...stock import domain as stock_domain
from ...stock.repository import LedgerEntry, NewPurchase, StockRepository
from ..domain import parse_selector, selector_for
from .domain import Container, PackageRule, Visit
from .engine import SaleDraw, VisitDraws, plan_container_returns
from .repository import ContainerRepository, NewDraw


@dataclass(frozen=True)
class ContainerFacts:
    """The visit's products counted in units, their open containers, the recorded
    draws of the rows the visit gives back, the encounter's date-time, and (when the
    nurse named a lot) the containers the visit already draws from."""

    rules: dict[int, PackageRule]
    containers: tuple[Container, ...]
    draws: tuple[SaleDraw, ...]
    at: datetime
    visit_vials: frozenset[int] = frozenset()  # drawn from by the visit (a named lot's)


@dataclass(frozen=True)
class Counted:
    """The visit's products counted in units and its encounter's date-time."""

    rules: dict[int, PackageRule]
    at: datetime


def rule_from_settings(drug_id: int, settings: str) -> PackageRule:
    """A product's rule from the engine's visit read: ``size|hours|single|diluent|unit|
    package`` (the consumption repository's ``_COUNTED`` column)."""
    size, hours, single, diluent, unit, package = (settings.split("|", 5) + [""] * 6)[:6]
    return PackageRule(drug_id, "", unit, package, int(size), int(hours) if hours else None,
                       Decimal(diluent) if diluent else None, single == "1")


def counted_products(settings: dict[int, str], *, visit_date: date,
                     visit_time: datetime | None) -> Counted | None:
    """The visit's products counted in units (from the visit read: no statement) and
    the encounter's time (noon of the visit date when it has none), or None when there
    are none: the visit is reconciled as always."""
    if not settings:
        return None
    rules = {d: rule_from_settings(d, text) for d, text in settings.items()}
    return Counted(rules, visit_time or datetime.combine(visit_date, time(12, 0)))


@dataclass(frozen=True)
class InsertedRows:
    """Where the engine's one INSERT of a reconcile put its rows: its first id, and per
    (mapping, lot) the row's position in it (ids step by ``auto_increment_increment``)."""

    first_id: int
    position: dict[tuple[int, int], int]


def inserted_rows(sales: Sequence[tuple[str, int]], first_id: int) -> InsertedRows:
    """The rows of one INSERT, given each row's (selector, lot) in INSERT order."""
    return InsertedRows(first_id, {(parse_selector(sel) or 0, inv): k
                                   for k, (sel, inv) in enumerate(sales)})


@dataclass(frozen=True)
class StepResult:
    opened: tuple[int, ...]
    drawn_from: tuple[int, ...]
    written_off: dict[int, int]  # lot -> units returned after their container closed


def write(repo: ContainerRepository, stock: StockRepository, facts: ContainerFacts,
          draws: VisitDraws, new_sale_ids: dict[tuple[int, int], int] | InsertedRows,
          returns: Sequence[tuple[int, int, int]], *, visit: Visit, user: str,
          now: datetime, checked: bool = False) -> StepResult:
    """Write the container side of a reconcile: returns into the containers they came
    from (or, for a closed container, a count adjustment taking them out of the lot
    again), the containers opened, the units drawn, one draw row per sale and
    container. ``new_sale_ids``: (mapping, lot) -> the row inserted for it, or where
    the engine's one INSERT put those rows (found by the draw INSERT);
    ``returns``: (sale_id, lot, units) given back by shrunk or deleted rows.
    ``checked``: the containers were read without locks (the lots are locked since by
    the lot UPDATE), so the draw INSERT checks them (a
    :class:`~aesthetic_inventory.db.StaleReadError` when another save changed them:
    the transaction is run again)."""
    boxes = {c.id: c for c in facts.containers}
    back = plan_container_returns(returns, facts.draws, boxes)
    repo.set_draw_units(back.draw_units)  # what goes back into a container leaves its draws
    _write_off_returns(stock, back.written_off, user=user, now=now)
    ids = {-(n + 1): repo.insert(new) for n, new in enumerate(draws.opened)}
    rows: dict[tuple[int, int, int], int] = {}  # (mapping, lot, container) -> units
    for d in draws.draws:
        key = (d.mapping_id, d.inventory_id, ids.get(d.container_id, d.container_id))
        rows[key] = rows.get(key, 0) + d.units
    if isinstance(new_sale_ids, InsertedRows):
        # the check compares with the containers as read, plus what this reconcile's
        # own returns just gave back to them (not another save's doing)
        seen = [replace(c, units_drawn=c.units_drawn - back.given_back.get(c.id, 0))
                for c in facts.containers]
        done = repo.insert_visit_draws(
            [(cid, selector_for(m), inv, units, new_sale_ids.position[(m, inv)])
             for (m, inv, cid), units in rows.items()],
            pid=visit.pid, encounter=visit.encounter, drawn_at=facts.at,
            first_sale_id=new_sale_ids.first_id, seen=seen if checked else None,
            opened=tuple(ids.values()))
        if done != len(rows):
            raise StaleReadError("another save drew from these containers meanwhile")
    else:
        repo.insert_draws([NewDraw(cid, new_sale_ids[(m, inv)], visit.pid, visit.encounter,
                                   units, facts.at) for (m, inv, cid), units in rows.items()])
    return StepResult(tuple(ids.values()), tuple(sorted({cid for _, _, cid in rows})),
                      back.written_off)


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
