"""Pure consumption rules: which lots a sale takes from, and what a reconcile changes.

No SQL here. The lot rules reproduce OpenEMR's ``sellDrug`` (interface/drugs/drugs.inc.php):

* candidates are the product's lots that are not destroyed and have ``on_hand != 0``;
* order: the user's default warehouse first, then warehouse ``list_options.seq``, then
  ``expiration``, ``lot_number``, ``inventory_id`` (MySQL sorts NULL first ascending,
  so a lot without expiration / lot number / warehouse seq sorts before the others);
* a lot in another warehouse whose seq is above 99 is unavailable (a missing seq
  counts as 0, as ``empty($row['seq']) ? 0``);
* a lot with ``expiration <= sale date`` is skipped; a NULL expiration never expires;
* a lot is used only when it has ``on_hand > 0`` (so a lot driven negative by a manual
  adjustment is a candidate in OpenEMR's query but is never taken from; we treat it the
  same way: it covers nothing and is left alone);
* without ``allow_combining`` one lot must cover the whole quantity.

Where ``sellDrug`` then refuses the whole sale, the module fills what ``allow_combining``
permits and records the rest as a shortage (SPEC section 5: billing never fails).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

SELECTOR_PREFIX = "AUTO_PROC:"
UNAVAILABLE_WAREHOUSE_SEQ = 99


@dataclass(frozen=True)
class Lot:
    """One ``drug_inventory`` row as the allocator sees it."""

    inventory_id: int
    drug_id: int
    on_hand: int
    warehouse_id: str = ""
    warehouse_seq: int | None = None
    expiration: date | None = None
    lot_number: str | None = None
    destroyed: bool = False


@dataclass(frozen=True)
class Requirement:
    """What one mapping needs for one visit."""

    mapping_id: int
    drug_id: int
    code_type: str
    code: str
    planned_quantity: Decimal
    allow_combining: bool = False
    dispensable: bool = True
    username: str = ""
    default_warehouse: str = ""
    product_name: str = ""
    actual_quantity: Decimal | None = None  # recorded actual usage: the target when set
    lot_id: int | None = None  # the lot actually used, when the actual names one

    @property
    def required_units(self) -> int:
        """Units the mapping's rows must hold: the recorded actual when there is one, else
        the plan; ``drug_sales.quantity`` is an INT, so a fraction is rounded up."""
        if self.actual_quantity is not None:
            return required_units(self.actual_quantity)
        return required_units(self.planned_quantity)


@dataclass(frozen=True)
class Allocation:
    """Take ``quantity`` units from lot ``inventory_id`` (0 for a non-dispensable product)."""

    inventory_id: int
    quantity: int


@dataclass(frozen=True)
class AllocationResult:
    """The lots chosen for a sale and what could not be filled."""

    allocations: tuple[Allocation, ...]
    shortage: int

    @property
    def allocated(self) -> int:
        return sum(a.quantity for a in self.allocations)


@dataclass(frozen=True)
class HeldSale:
    """An existing ``AUTO_PROC`` consumption row of the visit."""

    sale_id: int
    mapping_id: int
    drug_id: int
    inventory_id: int
    quantity: int
    billed: bool = False


@dataclass(frozen=True)
class ReturnStep:
    """Give ``quantity`` back to the lot of sale ``sale_id``; the row keeps ``remaining``
    (0 means the row is deleted)."""

    sale_id: int
    inventory_id: int
    quantity: int
    remaining: int


@dataclass(frozen=True)
class MappingPlan:
    """Reconcile plan of one mapping: take more (``take`` units) or return some."""

    mapping_id: int
    drug_id: int
    required: int
    held: int
    take: int
    returns: tuple[ReturnStep, ...]


def required_units(planned: Decimal | int | float) -> int:
    """Round a planned quantity up to whole inventory units; never below zero."""
    value = Decimal(str(planned))
    if value <= 0:
        return 0
    return int(math.ceil(value))


def planned_quantity(units: Iterable[int | None], per_unit: Decimal) -> Decimal:
    """SUM(billing.units) of the live lines times the mapping quantity (NULL units count 0)."""
    total = sum(int(u) for u in units if u is not None)
    return Decimal(max(total, 0)) * Decimal(str(per_unit))


def lot_sort_key(lot: Lot, default_warehouse: str = "") -> tuple[object, ...]:
    """``ORDER BY di.warehouse_id != default, lo.seq, di.expiration, di.lot_number,
    di.inventory_id`` with MySQL's NULLs-first ascending order."""

    def nulls_first(value: object) -> tuple[int, object]:
        return (0, "") if value is None else (1, value)

    not_default = 0 if default_warehouse == "" else int(lot.warehouse_id != default_warehouse)
    return (
        not_default,
        nulls_first(lot.warehouse_seq),
        nulls_first(lot.expiration),
        nulls_first(lot.lot_number),
        lot.inventory_id,
    )


def lot_is_candidate(lot: Lot, *, sale_date: date, default_warehouse: str = "") -> bool:
    """Whether ``sellDrug`` would consider the lot at all (before quantity rules)."""
    if lot.destroyed or lot.on_hand == 0:
        return False
    if lot.warehouse_id != default_warehouse:
        seq = lot.warehouse_seq or 0
        if seq > UNAVAILABLE_WAREHOUSE_SEQ:
            return False
    return not (lot.expiration is not None and lot.expiration <= sale_date)


def allocate(
    requirement: Requirement,
    lots: Sequence[Lot],
    *,
    quantity: int | None = None,
    sale_date: date,
) -> AllocationResult:
    """Choose lots for ``quantity`` units (default: the requirement's whole units).

    Lots of other products are ignored. The result never takes more than a lot holds.
    """
    wanted = requirement.required_units if quantity is None else quantity
    if wanted <= 0:
        return AllocationResult((), 0)
    if not requirement.dispensable:
        # sellDrug: one row with inventory_id 0, no lot touched.
        return AllocationResult((Allocation(0, wanted),), 0)
    warehouse = requirement.default_warehouse or ""
    ordered = sorted(
        (
            lot
            for lot in lots
            if lot.drug_id == requirement.drug_id
            and lot_is_candidate(lot, sale_date=sale_date, default_warehouse=warehouse)
        ),
        key=lambda lot: lot_sort_key(lot, warehouse),
    )
    left = wanted
    chosen: list[Allocation] = []
    for lot in ordered:
        if left <= 0:
            break
        if lot.on_hand <= 0:
            continue  # a negative lot is listed by OpenEMR but never taken from
        if requirement.allow_combining:
            take = min(left, lot.on_hand)
        elif lot.on_hand >= left:
            take = left
        else:
            continue
        chosen.append(Allocation(lot.inventory_id, take))
        left -= take
    return AllocationResult(tuple(chosen), left)


def parse_selector(selector: str | None) -> int | None:
    """The mapping id of an ``AUTO_PROC:<id>`` selector, else None."""
    if not selector or not selector.startswith(SELECTOR_PREFIX):
        return None
    rest = selector[len(SELECTOR_PREFIX):]
    return int(rest) if rest.isdigit() else None


def selector_for(mapping_id: int) -> str:
    """The ``drug_sales.selector`` of a consumption row of a mapping."""
    return f"{SELECTOR_PREFIX}{mapping_id}"


def plan_returns(held: Sequence[HeldSale], surplus: int) -> tuple[ReturnStep, ...]:
    """Return ``surplus`` units from unbilled rows, newest sale first.

    Billed rows are frozen, so at most the unbilled quantity comes back.
    """
    steps: list[ReturnStep] = []
    left = surplus
    for sale in sorted(held, key=lambda s: s.sale_id, reverse=True):
        if left <= 0:
            break
        if sale.billed or sale.quantity <= 0:
            continue
        back = min(left, sale.quantity)
        steps.append(ReturnStep(sale.sale_id, sale.inventory_id, back, sale.quantity - back))
        left -= back
    return tuple(steps)


def plan_mapping(
    mapping_id: int, drug_id: int, required: int, held: Sequence[HeldSale]
) -> MappingPlan:
    """Compare the requirement with the rows already held: take or return the difference."""
    held_total = sum(s.quantity for s in held)
    if required > held_total:
        return MappingPlan(mapping_id, drug_id, required, held_total, required - held_total, ())
    returns = plan_returns(held, held_total - required) if required < held_total else ()
    return MappingPlan(mapping_id, drug_id, required, held_total, 0, returns)


def merge_locked(
    snapshot: dict[int, Lot], requested: Iterable[int], locked: Sequence[Lot]
) -> dict[int, Lot]:
    """The snapshot of candidate lots with the state read under lock put in place.

    A requested lot that is gone under the lock (deleted meanwhile) is dropped, so a
    plan can no longer choose it."""
    merged = dict(snapshot)
    for lot_id in requested:
        merged.pop(lot_id, None)
    for lot in locked:
        merged[lot.inventory_id] = lot
    return merged


def plan_still_holds(deltas: dict[int, int], locked_ids: Iterable[int]) -> bool:
    """Whether a plan's stock changes (``{inventory_id: delta}``) write only lots we
    hold locks on (lot 0, the "no lot" of a non-dispensable product, and a net zero
    change write nothing and need no lock)."""
    held = set(locked_ids)
    return all(lot_id in held for lot_id, delta in deltas.items() if lot_id and delta)


@dataclass(frozen=True)
class StoredUsage:
    """The usage record of one visit and mapping as stored (for the sweep's pre-check)."""

    drug_id: int
    planned_quantity: Decimal
    required_units: int
    allocated_units: int
    shortage_units: int
    actual_quantity: Decimal | None = None  # a recorded actual is the target


@dataclass(frozen=True)
class MappingState:
    """What the database holds for one mapping of one visit: its live billing units (if
    it has live lines), its AUTO_PROC rows, its usage record. Enough to tell, without a
    transaction, whether a reconcile would change anything."""

    mapping_id: int
    drug_id: int | None = None  # the mapping's product when it has live lines
    live_units: int = 0
    per_unit: Decimal = Decimal(0)
    held: int = 0  # AUTO_PROC quantity of the mapping's current product
    held_unbilled: int = 0  # of which not yet billed (returnable)
    held_other_drug: int = 0  # rows of a product the mapping no longer points to
    usage: StoredUsage | None = None


def mapping_is_settled(state: MappingState) -> bool:
    """True when the mapping needs no reconcile from the sweep's window check: the held
    rows match the requirement (or the surplus is billed, so frozen) and the usage
    record already says so. A shortage that the record states exactly counts as settled
    here: whether stock has arrived for it is decided by the sweep's separate
    open-shortage check. Conservative: when unsure, not settled."""
    if state.held_other_drug:
        return False  # product changed: rows go back, new ones are taken
    live = state.drug_id is not None
    planned = planned_quantity([state.live_units], state.per_unit) if live else Decimal(0)
    usage = state.usage
    actual = usage.actual_quantity if usage is not None else None
    required = required_units(planned if actual is None else actual)
    if required < state.held and state.held_unbilled:
        return False  # unbilled surplus to return
    if usage is None:
        return required == 0 and state.held == 0  # a zero record is never written
    return (
        usage.required_units == required
        and usage.allocated_units == state.held
        and usage.shortage_units == max(required - state.held, 0)
        and usage.planned_quantity == planned
        and (not live or usage.drug_id == state.drug_id)
    )
