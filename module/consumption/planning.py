"""Reconcile planning: what a visit requires, what it holds, and the writes that
turn one into the other (pure: no SQL, unit-tested without a database).

A reconcile plans per mapping (:func:`mapping_plans`), gives surplus back first
(:func:`apply_returns`) so freed stock can serve another mapping, then takes what is
missing from the lots in ``sellDrug`` order (:func:`apply_takes`, over
:func:`~.domain.allocate`); what no lot can cover is the mapping's shortage, recorded in
its usage row (:func:`outcomes`). The rows the repositories read and write are defined
here too, so the planning never sees a tuple.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from .actuals import FeeSheetEdit, allocate_from_lot, plan_mapping_in_lot
from .domain import (
    DEFAULT_POLICY,
    HeldSale,
    Lot,
    LotPolicy,
    MappingPlan,
    Requirement,
    allocate,
    plan_mapping,
    planned_quantity,
    selector_for,
)
from .results import LotMovement, MappingOutcome


@dataclass(frozen=True)
class Visit:
    """The visit being reconciled; its date is the sale date of every row it takes."""

    pid: int
    encounter: int
    visit_date: date
    visit_time: datetime | None = None  # form_encounter.date with its time, when it has one
    # the visit's AUTO_PROC rows as its (locking) read saw them: (count, sum of sale_id)
    auto_rows: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class MappedLine:
    """A live billing line joined to one of its mappings and its product."""

    line_id: int
    units: int | None
    mapping_id: int
    drug_id: int
    code_type: str
    code: str
    per_unit: Decimal
    allow_combining: bool
    dispensable: bool
    username: str | None
    default_warehouse: str
    product_name: str = ""
    product_missing: bool = False  # the mapping's drug_id has no drugs row
    product_active: bool = True  # drugs.active


@dataclass(frozen=True)
class UsageRow:
    """The planned-versus-allocated record of one visit and mapping."""

    mapping_id: int
    drug_id: int
    planned_quantity: Decimal
    required_units: int
    allocated_units: int
    shortage_units: int
    code_type: str = ""
    code: str = ""


@dataclass(frozen=True)
class RecordedActual:
    """The recorded actual of a usage record, as the reconcile needs it."""

    quantity: Decimal
    lot_id: int | None = None
    reason: str | None = None
    notes: str | None = None


@dataclass
class VisitFacts:
    """What the reconcile's one visit read returns (``ConsumptionRepository.visit_facts``)."""

    lines: list[MappedLine] = field(default_factory=list)
    usage: dict[int, UsageRow] = field(default_factory=dict)
    actuals: dict[int, RecordedActual] = field(default_factory=dict)
    # per usage record's product: (allow_combining, dispensable, name)
    products: dict[int, tuple[bool, bool, str]] = field(default_factory=dict)
    edits: list[FeeSheetEdit] = field(default_factory=list)
    # products counted in units (module/containers): drug_id -> their package settings
    counted: dict[int, str] = field(default_factory=dict)
    # the visit's AUTO_PROC rows in this read's snapshot: (count, sum of sale_id)
    auto_rows: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class NewSale:
    """A ``drug_sales`` consumption row to insert (selector ``AUTO_PROC:<mapping>``)."""

    drug_id: int
    inventory_id: int
    pid: int
    encounter: int
    user: str
    sale_date: date
    quantity: int
    selector: str


def requirements(lines: list[MappedLine], service_username: str) -> dict[int, Requirement]:
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


@dataclass
class StockChanges:
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

    def move(self, key: int, inventory_id: int, quantity: int,
             lot_number: str | None = None) -> None:
        """Record ``quantity`` units taken from (positive) or given back to (negative) a lot,
        keeping the in-memory lot current so later mappings see the new stock
        (``lot_number``: the lot's number when the lot itself was not read)."""
        lot = self.lots.get(inventory_id)
        if inventory_id:
            self.deltas[inventory_id] -= quantity
            if lot is not None:
                self.lots[inventory_id] = replace(lot, on_hand=lot.on_hand - quantity)
        number = lot.lot_number if lot is not None else lot_number
        self.movements[key].append(LotMovement(inventory_id, number, quantity))


def mapping_problems(lines: list[MappedLine]) -> tuple[list[str], set[int]]:
    """Mappings to a product that does not exist (nothing can be deducted: reported and
    left alone) or that is inactive in OpenEMR (deducted, but reported)."""
    problems: list[str] = []
    blocked: set[int] = set()
    seen: set[int] = set()
    for line in sorted(lines, key=lambda ln: ln.mapping_id):
        if line.mapping_id in seen:
            continue
        seen.add(line.mapping_id)
        code = f"{line.code_type} {line.code}"
        if line.product_missing:
            blocked.add(line.mapping_id)
            problems.append(
                f"{code}: mapping {line.mapping_id} points to product {line.drug_id}, "
                "which does not exist; nothing deducted (fix or delete the mapping)"
            )
        elif not line.product_active:
            problems.append(
                f"{code}: product {line.product_name or line.drug_id} is inactive in OpenEMR "
                f"(mapping {line.mapping_id}); deducted all the same"
            )
    return problems, blocked


def mapping_plans(
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


def apply_returns(plans: dict[int, MappingPlan], changes: StockChanges) -> None:
    """Give surplus back first, so stock freed by one mapping can serve another."""
    for key, plan in plans.items():
        for step in plan.returns:
            changes.move(key, step.inventory_id, -step.quantity, step.lot_number)
            if step.remaining:
                changes.shrink[step.sale_id] = step.remaining
            else:
                changes.delete.append(step.sale_id)
        changes.allocated[key] = plan.held - sum(s.quantity for s in plan.returns)
        changes.shortage[key] = max(plan.required - changes.allocated[key], 0)


def apply_takes(
    plans: dict[int, MappingPlan], reqs: dict[int, Requirement], visit: Visit,
    changes: StockChanges, policy: LotPolicy = DEFAULT_POLICY,
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
                sale_date=visit.visit_date, policy=policy,
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


def outcomes(
    plans: dict[int, MappingPlan],
    reqs: dict[int, Requirement],
    usage: dict[int, UsageRow],
    changes: StockChanges,
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
        if old != row and (old is not None or row != zero_usage(row)):
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
        if mapping_id not in by_mapping and old != zero_usage(old):
            usage_writes.append(zero_usage(old))
    return outcomes, usage_writes


def zero_usage(row: UsageRow) -> UsageRow:
    """The record of a mapping that needs and holds nothing (code kept)."""
    return replace(row, planned_quantity=Decimal(0), required_units=0, allocated_units=0,
                   shortage_units=0)


def stock_plan(
    plans: dict[int, MappingPlan], reqs: dict[int, Requirement], visit: Visit,
    lots: dict[int, Lot], policy: LotPolicy = DEFAULT_POLICY,
) -> StockChanges:
    """Returns first, then takes, on the given lot state (pure, no SQL)."""
    changes = StockChanges(lots=dict(lots))
    apply_returns(plans, changes)
    apply_takes(plans, reqs, visit, changes, policy)
    return changes


@dataclass(frozen=True)
class SnapshotCut:
    """Units per product for the lot snapshot's running-total cut, and the one default
    warehouse every taking requirement shares (it leads the lot order)."""

    needs: dict[int, int]
    default_warehouse: str
    only_warehouse: str | None = None  # SELL_FROM_ONE_WAREHOUSE: the cut reads only it


def snapshot_cut(
    plans: dict[int, MappingPlan], reqs: dict[int, Requirement],
    policy: LotPolicy = DEFAULT_POLICY,
) -> SnapshotCut | None:
    """The running-total cut of the lot snapshot, or None to read every candidate lot.

    Only products whose every taking requirement allows combining qualify (without
    combining one lot must cover the whole quantity, which a running total cannot
    tell), and only when all taking requirements share one default warehouse."""
    taking = [reqs[key] for key, plan in plans.items()
              if plan.take > 0 and reqs[key].dispensable and reqs[key].lot_id is None]
    warehouses = {req.default_warehouse for req in taking}
    if len(warehouses) != 1:
        return None
    units: dict[int, int] = defaultdict(int)
    combining: dict[int, bool] = defaultdict(lambda: True)
    for key, plan in plans.items():
        req = reqs.get(key)
        if plan.take > 0 and req is not None and req.dispensable and req.lot_id is None:
            units[req.drug_id] += plan.take
            combining[req.drug_id] &= req.allow_combining
    needs = {drug: n for drug, n in units.items() if combining[drug]}
    if not needs:
        return None
    warehouse = warehouses.pop()
    return SnapshotCut(needs, warehouse, policy.only_warehouse(warehouse))


def before_own_writes(lot: Lot, applied: dict[int, int]) -> Lot:
    """A lot as it was before this transaction's own ``applied`` deltas."""
    delta = applied.get(lot.inventory_id, 0)
    return replace(lot, on_hand=lot.on_hand - delta) if delta else lot


def remaining_deltas(deltas: dict[int, int], applied: dict[int, int]) -> dict[int, int]:
    """What is still to be written: the plan's deltas minus those already written."""
    return {k: deltas.get(k, 0) - applied.get(k, 0) for k in set(deltas) | set(applied)}
