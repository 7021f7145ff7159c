"""Container services: list containers, draw stock used without a patient (``use``),
close a container by hand, write off what is left after beyond-use (the waste job),
and the patients who shared a container (for ``recall --container``).

Each stock-moving command is one transaction with its rows locked in the fixed order
(product, lots by inventory_id, containers by id), re-run whole after a deadlock.
Rows are written as OpenEMR's lot screen writes them (interface/drugs/add_edit_lot.php):
a Consumption is trans_type 7 (quantity = units, fee 0), an Adjustment trans_type 5
(quantity = -change, fee 0), both with the comment OpenEMR requires.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from ...db import existing_tables, require_openemr
from ...errors import AestheticInventoryError
from ...stock import domain as stock_domain
from ...stock.repository import LedgerEntry, NewPurchase, StockRepository
from ...unit_of_work import UnitOfWork, UnitOfWorkFactory, run_transaction
from ..domain import (
    DEFAULT_POLICY,
    Lot,
    LotPolicy,
    Requirement,
    allocate,
    lot_is_candidate,
    lot_sort_key,
    parse_selector,
)
from ..repositories import ConsumptionRepository
from . import domain, step
from .domain import BEYOND_USE, ClosePlan, Container, ContainerInputError, PackageRule, Visit
from .engine import Need, VisitDraws, plan_visit_draws
from .repository import TABLES, ContainerLine, ContainerRepository, PatientDraw
from .step import ContainerFacts

log = logging.getLogger("aesthetic_inventory.containers")
T = TypeVar("T")


def tables_present(factory: UnitOfWorkFactory) -> bool:
    """Whether the container tables exist (version 519_40 applied)."""
    with factory() as uow:
        return len(existing_tables(uow.connection, TABLES)) == len(TABLES)


def preflight(factory: UnitOfWorkFactory) -> None:
    """An OpenEMR database with the container tables (version 519_40)."""
    with factory() as uow:
        require_openemr(uow.connection)
        missing = set(TABLES) - existing_tables(uow.connection, TABLES)
    if missing:
        raise ContainerInputError(
            "the container tables are missing: run 'aesthetic-inventory migrate'")


def list_containers(factory: UnitOfWorkFactory, *, drug_id: int | None = None,
                    include_closed: bool = False) -> list[ContainerLine]:
    """Open (or all) containers, oldest opened first."""
    with factory() as uow:
        return uow.get(ContainerRepository).lines(drug_id=drug_id, include_closed=include_closed)


def locked_product_rule(uow: UnitOfWork, drug_id: int) -> tuple[ContainerRepository,
                                                                 PackageRule]:
    """The product's package rule, with the product row locked first (the fixed lock
    order: products, then lots and their containers); an unknown product is refused."""
    boxes = uow.get(ContainerRepository)
    rule = boxes.package_rules([drug_id]).get(drug_id)
    if rule is None:
        raise ContainerInputError(f"no product {drug_id}")
    uow.get(StockRepository).lock_products([drug_id])
    return boxes, rule


def patients_of_container(uow: UnitOfWork, container_id: int) -> list[PatientDraw]:
    """The patients (and stock uses, pid 0) served from one container, in draw order."""
    boxes = uow.get(ContainerRepository)
    if boxes.get(container_id) is None:
        raise ContainerInputError(f"no container {container_id}")
    return boxes.draws_of([container_id])


def visit_containers(factory: UnitOfWorkFactory, pid: int, encounter: int, *,
                     now: datetime) -> dict[int, list[dict[str, object]]]:
    """Per mapping of a visit, the containers its rows drew from: units, the volume when
    the product has a diluent, units left and hours to beyond use (the review page)."""
    with factory() as uow:
        return visit_container_draws(uow, pid, encounter, now=now)


def visit_container_draws(uow: UnitOfWork, pid: int, encounter: int, *,
                          now: datetime) -> dict[int, list[dict[str, object]]]:
    """:func:`visit_containers` inside the caller's unit of work (a chair scan names
    the vial it recorded, in its own transaction)."""
    draws = uow.get(ContainerRepository).visit_draws(pid, encounter)
    out: dict[int, list[dict[str, object]]] = {}
    for d in draws:
        mapping = parse_selector(d.selector)
        if mapping is None:
            continue
        rule = PackageRule(0, counting_unit=d.unit, package_size=d.package_size,
                           diluent_ml=d.diluent_ml)
        volume = rule.volume_ml(d.units)
        hours = (None if d.beyond_use_at is None or d.closed_at is not None
                 else round((d.beyond_use_at - now).total_seconds() / 3600, 1))
        out.setdefault(mapping, []).append({
            "containerId": d.container_id, "inventoryId": d.inventory_id,
            "units": d.units, "unit": d.unit,
            "volumeMl": None if volume is None else float(volume),
            "unitsLeft": max(d.units_left, 0), "open": d.closed_at is None,
            "beyondUseAt": None if d.beyond_use_at is None else d.beyond_use_at.isoformat(),
            "hoursLeft": hours})
    return out


# -- drawing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UseResult:
    drug_id: int
    units: int
    sale_ids: tuple[int, ...]
    opened: tuple[int, ...]  # containers opened by this use
    drawn_from: tuple[int, ...]  # every container drawn from
    counted_in_units: bool


def _plan_use(uow: UnitOfWork, rule: PackageRule, quantity: int, *, warehouse: str,
              now: datetime, policy: LotPolicy) -> tuple[dict[int, int], VisitDraws | None,
                                                         ContainerFacts | None, int]:
    """Lock the product's lots (then its open containers) and choose: containers for a
    product counted in units, else lots in sellDrug's order. Returns units per lot, the
    draws and facts (containers only) and the shortage."""
    lots = uow.get(ConsumptionRepository).lock_lots([rule.drug_id], [])
    if not rule.counted_in_units:
        taken = allocate(Requirement(0, rule.drug_id, "", "", Decimal(quantity),
                                     allow_combining=True, default_warehouse=warehouse),
                         lots, sale_date=now.date(), policy=policy)
        return ({a.inventory_id: a.quantity for a in taken.allocations}, None, None,
                taken.shortage)
    facts = ContainerFacts({rule.drug_id: rule},
                           tuple(uow.get(ContainerRepository).lock_open([rule.drug_id])), (),
                           now)

    def candidates(ls: Sequence[Lot], need: Need) -> list[Lot]:
        return sorted((x for x in ls if lot_is_candidate(
            x, sale_date=now.date(), default_warehouse=warehouse, policy=policy)),
            key=lambda x: lot_sort_key(x, warehouse))

    need = Need(0, rule.drug_id, quantity, policy.only_warehouse(warehouse) or "")
    draws = plan_visit_draws([need], rules=facts.rules, containers=facts.containers, lots=lots,
                             at=now, visit=Visit(), candidates=candidates)
    by_lot = {inv: n for (_, inv), n in sorted(draws.units_by_mapping_lot().items())}
    return by_lot, draws, facts, draws.shortage.get(0, 0)


def use(factory: UnitOfWorkFactory, drug_id: int, quantity: int, reason: str, *, user: str,
        now: datetime, warehouse: str = "", policy: LotPolicy = DEFAULT_POLICY) -> UseResult:
    """Stock used without a patient (training, a demo, a department), written as
    OpenEMR's lot screen writes a Consumption: one trans_type 7 row per lot, the lot's
    on_hand reduced, an ISSUE ledger row. A product counted in units draws from its
    containers like a patient's draw; any other takes lots in sellDrug's order. Refused
    (nothing written) when the stock cannot cover the whole quantity."""
    reason = reason.strip()
    if quantity <= 0:
        raise ContainerInputError(f"--quantity must be positive, got {quantity}")
    if not reason:
        raise ContainerInputError("--reason must not be empty (OpenEMR requires a comment)")

    def work(uow: UnitOfWork) -> UseResult:
        boxes, rule = locked_product_rule(uow, drug_id)
        stock = uow.get(StockRepository)
        wh = warehouse or boxes.default_warehouse()
        by_lot, draws, facts, short = _plan_use(uow, rule, quantity, warehouse=wh, now=now,
                                                policy=policy)
        if short:
            raise ContainerInputError(
                f"product {drug_id} has {quantity - short} usable unit(s) in warehouse "
                f"{wh or '(any)'}; cannot use {quantity}")
        notes = reason[:stock_domain.NOTES_MAX]
        sale_ids = stock.insert_sales([NewPurchase(
            drug_id, inv, user, now.date(), units, Decimal("0.00"),
            stock_domain.TRANS_CONSUMPTION, notes) for inv, units in by_lot.items()])
        for inv, units in by_lot.items():
            stock.add_to_lot(inv, -units)
        costs = {lot.inventory_id: lot for lot in stock.lock_lots(by_lot).values()}
        stock.insert_ledger([LedgerEntry(
            stock_domain.ISSUE, inv, drug_id, -units, costs[inv].unit_cost, "consumption",
            str(sid), user, notes, "USE", sid)
            for (inv, units), sid in zip(by_lot.items(), sale_ids, strict=True)])
        if draws is None or facts is None:
            return UseResult(drug_id, quantity, tuple(sale_ids), (), (), False)
        done = step.write(boxes, stock, facts, draws,
                          {(0, inv): sid for inv, sid in zip(by_lot, sale_ids, strict=True)},
                          (), visit=Visit(), user=user, now=now)
        return UseResult(drug_id, quantity, tuple(sale_ids), done.opened, done.drawn_from,
                         True)

    return run_transaction(factory, work)


# -- closing and waste -----------------------------------------------------------------


@dataclass(frozen=True)
class CloseResult:
    container_id: int
    reason: str
    waste: int
    unaccounted: int
    sale_ids: tuple[int, ...]


def _write_off(uow: UnitOfWork, c: Container, plan: ClosePlan, *, user: str,
               now: datetime, notes: str) -> CloseResult:
    """The close's rows: an Adjustment per written-off part (waste, then unaccounted),
    the lot reduced, ADJUST ledger rows (reason = the close reason; COUNT for the
    unaccounted part), the container closed."""
    boxes, stock = uow.get(ContainerRepository), uow.get(StockRepository)
    lot = stock.lock_lots([c.inventory_id])[c.inventory_id]
    parts = [(plan.waste, plan.reason, notes),
             (plan.unaccounted, "COUNT",
              f"container {c.id} closed with {plan.unaccounted} unit(s) fewer than recorded")]
    parts = [p for p in parts if p[0] > 0]
    sale_ids = stock.insert_sales([NewPurchase(
        c.drug_id, c.inventory_id, user, now.date(), units, Decimal("0.00"),
        stock_domain.TRANS_ADJUSTMENT, text[:stock_domain.NOTES_MAX])
        for units, _, text in parts])
    stock.add_to_lot(c.inventory_id, -(plan.waste + plan.unaccounted))
    stock.insert_ledger([LedgerEntry(
        stock_domain.ADJUST, c.inventory_id, c.drug_id, -units, lot.unit_cost, "container",
        str(c.id), user, text, why[:16], sid)
        for (units, why, text), sid in zip(parts, sale_ids, strict=True)])
    boxes.close(c.id, wasted=plan.waste, reason=plan.reason, closed_at=now,
                         waste_sale_id=sale_ids[0] if plan.waste else None, user=user)
    return CloseResult(c.id, plan.reason, plan.waste, plan.unaccounted, tuple(sale_ids))


def _lock_container(uow: UnitOfWork, container_id: int) -> tuple[Container, int]:
    """Lock product, lot, then the container (the fixed order); the lot's on_hand."""
    boxes, stock = uow.get(ContainerRepository), uow.get(StockRepository)
    peek = boxes.get(container_id)
    if peek is None:
        raise ContainerInputError(f"no container {container_id}")
    stock.lock_products([peek.drug_id])
    lot = stock.lock_lots([peek.inventory_id]).get(peek.inventory_id)
    c = boxes.get(container_id, lock=True)
    if c is None or lot is None:
        raise ContainerInputError(f"no container {container_id}")
    return c, lot.on_hand


def close(factory: UnitOfWorkFactory, container_id: int, *, reason: str,
          waste: int | None = None, user: str, now: datetime, notes: str = "") -> CloseResult:
    """Close a container by hand (dropped, contaminated, used up...): ``waste`` units
    (default: all that is left) are written off as an Adjustment naming the reason."""

    def work(uow: UnitOfWork) -> CloseResult:
        c, on_hand = _lock_container(uow, container_id)
        plan = domain.plan_close(c, reason=reason, waste=waste, lot_on_hand=on_hand)
        text = f"WASTAGE: container {c.id} closed, {plan.reason}" + (
            f"; {notes.strip()}" if notes.strip() else "")
        return _write_off(uow, c, plan, user=user, now=now, notes=text)

    return run_transaction(factory, work)


@dataclass(frozen=True)
class WasteJobResult:
    closed: tuple[CloseResult, ...]
    failed: int


def write_off_expired(factory: UnitOfWorkFactory, *, now: datetime, grace_hours: int,
                      user: str) -> WasteJobResult:
    """Close every open container past beyond-use plus the grace: what is left is
    written off as waste (reason ``beyond-use``). Each container is its own
    transaction, so one that fails is logged and the others still close."""
    with factory() as uow:
        due = uow.get(ContainerRepository).due_for_waste(now - timedelta(hours=grace_hours))
    closed: list[CloseResult] = []
    failed = 0
    for candidate in due:
        def work(uow: UnitOfWork, cid: int = candidate.id) -> CloseResult | None:
            c, on_hand = _lock_container(uow, cid)
            if not domain.waste_due(c, now, grace_hours):
                return None  # closed or changed meanwhile
            plan = domain.plan_close(c, reason=BEYOND_USE, waste=None, lot_on_hand=on_hand)
            text = (f"WASTAGE: beyond use, container {c.id} (beyond use at "
                    f"{c.beyond_use_at:%Y-%m-%d %H:%M}): {plan.waste} unit(s) left")
            return _write_off(uow, c, plan, user=user, now=now, notes=text)
        try:
            done = run_transaction(factory, work)
        except AestheticInventoryError as exc:
            failed += 1
            log.warning("container %s not written off: %s", candidate.id, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one bad container never stalls the rest
            failed += 1
            log.error("container %s not written off: %s: %s", candidate.id,
                      type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
            continue
        if done is not None:
            closed.append(done)
    return WasteJobResult(tuple(closed), failed)
