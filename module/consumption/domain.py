"""Pure consumption rules: which lots a sale takes from, and what a reconcile changes.

No SQL here. The lot rules reproduce OpenEMR's ``sellDrug`` (interface/drugs/drugs.inc.php):

* candidates are the product's lots that are not destroyed and have ``on_hand != 0``;
* order: the user's default warehouse first, then warehouse ``list_options.seq``, then
  ``expiration``, ``lot_number``, ``inventory_id`` (MySQL sorts NULL first ascending,
  so a lot without expiration / lot number / warehouse seq sorts before the others);
* a lot in another warehouse whose seq is above 99 is unavailable (a missing seq
  counts as 0, as ``empty($row['seq']) ? 0``);
* a lot with ``expiration <= sale date`` is skipped; a NULL expiration never expires;
  PHP compares the date *texts*, so a zero or invalid date that OpenEMR's lot form
  stores under an empty ``sql_mode`` (``'0000-00-00'``, ``'2026-02-00'``) is compared
  as text too: ``'0000-00-00'`` is always expired;
* with ``SELL_FROM_ONE_WAREHOUSE`` (OpenEMR's default) and a known default warehouse,
  only that warehouse's lots are candidates;
* ties on ``lot_number`` follow the column's collation (``'a1'`` before ``'B2'``,
  ``'ab1'`` equal to ``'AB1'``, trailing spaces ignored): the repository reads the
  server's collation key (``WEIGHT_STRING``) with each lot and the order uses it;
* a lot is used only when it has ``on_hand > 0`` (so a lot driven negative by a manual
  adjustment is a candidate in OpenEMR's query but is never taken from; we treat it the
  same way: it covers nothing and is left alone);
* without ``allow_combining`` one lot must cover the whole quantity.

Where ``sellDrug`` then refuses the whole sale, the module fills what ``allow_combining``
permits and records the rest as a shortage (SPEC section 5: billing never fails).
Beyond ``sellDrug``, :class:`LotPolicy` can block lots that expire within N days of the
sale date (seed 004's expiry policy; 0 = OpenEMR's behaviour).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

# the lot and its order live in lot_order; re-exported for the code that reads them here
from .lot_order import UNAVAILABLE_WAREHOUSE_SEQ as UNAVAILABLE_WAREHOUSE_SEQ
from .lot_order import Lot as Lot
from .lot_order import RemovalStrategy
from .lot_order import date_text as date_text
from .lot_order import lot_sort_key as lot_sort_key

SELECTOR_PREFIX = "AUTO_PROC:"
# drug_sales.quantity and the usage record's unit columns are signed INTs
MAX_UNITS = 2_147_483_647


@dataclass(frozen=True)
class LotPolicy:
    """Which lots a sale may take, beyond the fixed ``sellDrug`` rules.

    ``sell_from_one_warehouse``: OpenEMR's ``$GLOBALS['SELL_FROM_ONE_WAREHOUSE']``
    (true in drugs.inc.php): when the sale's user has a default warehouse, only its
    lots are candidates; false lets other warehouses (seq <= 99) follow it.
    ``block_days_before_expiry``: a lot expiring within this many days of the sale
    date is not taken (0 = OpenEMR: only ``expiration <= sale date`` is skipped).
    """

    sell_from_one_warehouse: bool = True
    block_days_before_expiry: int = 0

    def expiry_cutoff(self, sale_date: date) -> date:
        """Lots whose expiration is on or before this date are not taken."""
        return sale_date + timedelta(days=self.block_days_before_expiry)

    def only_warehouse(self, default_warehouse: str) -> str | None:
        """The one warehouse a sale is limited to, else None. PHP's truthiness of
        ``$default_warehouse`` decides: '' and '0' mean "no default"."""
        if self.sell_from_one_warehouse and default_warehouse not in ("", "0"):
            return default_warehouse
        return None


DEFAULT_POLICY = LotPolicy()


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
    lot_number: str | None = None  # of the lot, read with the row (a return names it)


@dataclass(frozen=True)
class ReturnStep:
    """Give ``quantity`` back to the lot of sale ``sale_id``; the row keeps ``remaining``
    (0 means the row is deleted)."""

    sale_id: int
    inventory_id: int
    quantity: int
    remaining: int
    lot_number: str | None = None  # the lot's, as read with the sale


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


def requirement_problem(requirement: Requirement) -> str | None:
    """Why a requirement cannot be reconciled at all (a per-mapping error: the visit's
    other mappings still are), else None."""
    if requirement.planned_quantity > MAX_UNITS:
        return (
            f"{requirement.code_type} {requirement.code}: quantity "
            f"{requirement.planned_quantity.normalize():f} is more than {MAX_UNITS} units "
            "(billing units x mapping quantity); not deducted"
        )
    return None


def planned_quantity(units: Iterable[int | None], per_unit: Decimal) -> Decimal:
    """SUM(billing.units) of the live lines times the mapping quantity (NULL units count 0)."""
    total = sum(int(u) for u in units if u is not None)
    return Decimal(max(total, 0)) * Decimal(str(per_unit))


def lot_is_expired(lot: Lot, cutoff: date) -> bool:
    """``!empty($row['expiration']) && $row['expiration'] <= $sale_date`` (text
    comparison, as PHP does it): a zero date ``'0000-00-00'`` is always expired."""
    return lot.expiration is not None and date_text(lot.expiration) <= cutoff.isoformat()


def lot_is_candidate(
    lot: Lot, *, sale_date: date, default_warehouse: str = "",
    policy: LotPolicy = DEFAULT_POLICY,
) -> bool:
    """Whether ``sellDrug`` would consider the lot at all (before quantity rules)."""
    if lot.destroyed or lot.on_hand == 0:
        return False
    only = policy.only_warehouse(default_warehouse)
    if only is not None and lot.warehouse_id != only:
        return False
    if lot.warehouse_id != default_warehouse:
        seq = lot.warehouse_seq or 0
        if seq > UNAVAILABLE_WAREHOUSE_SEQ:
            return False
    return not lot_is_expired(lot, policy.expiry_cutoff(sale_date))


def allocate(
    requirement: Requirement,
    lots: Sequence[Lot],
    *,
    quantity: int | None = None,
    sale_date: date,
    policy: LotPolicy = DEFAULT_POLICY,
) -> AllocationResult:
    """Choose lots for ``quantity`` units (default: the requirement's whole units).

    Lots of other products are ignored. The result never takes more than a lot holds;
    what the lots the policy allows cannot fill is the shortage.
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
            and lot_is_candidate(
                lot, sale_date=sale_date, default_warehouse=warehouse, policy=policy
            )
        ),
        key=RemovalStrategy(warehouse).sort_key,
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
        steps.append(ReturnStep(sale.sale_id, sale.inventory_id, back, sale.quantity - back,
                                sale.lot_number))
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


def check_bounds(planned_on_hand: int, delta: int) -> tuple[int, int]:
    """The ``on_hand`` a lot may have under its lock for a plan made when it held
    ``planned_on_hand`` to stay the plan sellDrug's rules would make now (inclusive
    bounds; the lot's other columns must be unchanged).

    A plan applies returns first, then takes in lot order, so a lot's stock only falls
    while it is planned. A lot the plan leaves with stock (``delta < 0`` and
    ``planned_on_hand + delta > 0``) was never drained: every take that used it took
    less than it held, and every lot that skipped it (one lot must cover the whole
    quantity) skipped it for holding too little. With less stock, but at least
    ``-delta``, every one of those choices is the same (issue 21: concurrent saves of
    one product no longer make each other's plans stale). Any other lot (drained,
    given back to, or holding more now) must hold exactly what the plan saw."""
    if delta < 0 < planned_on_hand + delta:
        return -delta, planned_on_hand
    return planned_on_hand, planned_on_hand


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


RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 3600.0


def retry_delay(attempts: int, *, base: float = RETRY_BASE_SECONDS,
                cap: float = RETRY_MAX_SECONDS) -> float:
    """Seconds until a set-aside visit is tried again after ``attempts`` failures:
    5 s, 10 s, 20 s, ... doubling up to one hour."""
    return min(cap, base * 2.0 ** max(attempts - 1, 0))


def error_summary(exc: BaseException) -> str:
    """One line naming a failure: the exception type and its first line (at most 255
    characters, the width of the queue's ``last_error``)."""
    orig = getattr(exc, "orig", None) or exc  # the driver's error inside SQLAlchemy's
    first = (str(orig).splitlines() or [""])[0]
    return f"{type(orig).__name__}: {first}"[:255]
