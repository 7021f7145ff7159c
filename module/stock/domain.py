"""Pure stock rules (input checks live in :mod:`.inputs`, re-exported here): average
cost, count differences, the reorder formula (seed 004) and the Inventory Activity
classification OpenEMR's report applies to ``drug_sales`` rows. No database here:
frozen dataclasses in and out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .inputs import (
    CENTS,
    COUNT_COLUMNS,
    DELIVERY_COLUMNS,
    DELIVERY_REQUIRED,
    INT_MAX,
    LOT_NUMBER_MAX,
    MONEY_MAX,
    NOTES_MAX,
    CountLine,
    FileValidationError,
    LineError,
    ReceiptLine,
    StockInputError,
    check_delivery,
    check_lot_number,
    parse_count,
    parse_delivery,
    validate_receipt,
)

__all__ = [
    "CENTS", "COUNT_COLUMNS", "DELIVERY_COLUMNS", "DELIVERY_REQUIRED", "INT_MAX",
    "LOT_NUMBER_MAX", "MONEY_MAX", "NOTES_MAX", "CountLine", "FileValidationError",
    "LineError", "ReceiptLine", "StockInputError", "check_delivery", "check_lot_number",
    "parse_count", "parse_delivery", "validate_receipt",
]

# OpenEMR's drug_sales.trans_type values (interface/drugs/add_edit_lot.php)
TRANS_SALE = 1
TRANS_PURCHASE = 2
TRANS_RETURN = 3
TRANS_TRANSFER = 4
TRANS_ADJUSTMENT = 5
TRANS_CONSUMPTION = 7

# Movements of the module's ledger
RECEIVE = "RECEIVE"
ISSUE = "ISSUE"
RETURN = "RETURN"
TRANSFER = "TRANSFER"
ADJUST = "ADJUST"
DESTROY = "DESTROY"
MOVEMENTS: tuple[str, ...] = (RECEIVE, ISSUE, RETURN, TRANSFER, ADJUST, DESTROY)

ADJUST_REASONS: tuple[str, ...] = ("COUNT", "DAMAGED", "WASTAGE", "EXPIRED", "FOUND", "OTHER")

COST_PLACES = Decimal("0.0001")



# -- costs -----------------------------------------------------------------------


def weighted_average_cost(
    old_quantity: int, old_cost: Decimal, received: int, new_cost: Decimal
) -> Decimal:
    """Seed 004: (old qty x old cost + received qty x new cost) / (old qty + received qty).

    Stock below zero counts as none (nothing was paid for it); with nothing on hand the
    new cost is the average."""
    old_quantity = max(old_quantity, 0)
    total = old_quantity + received
    if total <= 0:
        return new_cost.quantize(COST_PLACES, ROUND_HALF_UP)
    value = old_cost * old_quantity + new_cost * received
    return (value / total).quantize(COST_PLACES, ROUND_HALF_UP)


@dataclass(frozen=True)
class ProductCost:
    average_cost: Decimal
    last_cost: Decimal


def apply_receipts(
    on_hand: int, cost: ProductCost | None, receipts: Iterable[tuple[int, Decimal]]
) -> ProductCost:
    """Costs after receiving ``(quantity, unit cost)`` lots in order onto ``on_hand``."""
    average = cost.average_cost if cost else Decimal(0)
    last = cost.last_cost if cost else Decimal(0)
    held = on_hand
    for quantity, unit_cost in receipts:
        average = weighted_average_cost(held, average, quantity, unit_cost)
        last = unit_cost.quantize(COST_PLACES, ROUND_HALF_UP)
        held = max(held, 0) + quantity
    return ProductCost(average, last)


# -- counts ----------------------------------------------------------------------


@dataclass(frozen=True)
class CountDifference:
    inventory_id: int
    drug_id: int
    on_hand: int
    counted: int
    unit_cost: Decimal

    @property
    def difference(self) -> int:
        return self.counted - self.on_hand

    @property
    def value(self) -> Decimal:
        return (self.unit_cost * self.difference).quantize(CENTS, ROUND_HALF_UP)


def count_differences(
    lines: Sequence[CountLine], lots: dict[int, tuple[int, int, Decimal]]
) -> list[CountDifference]:
    """Differences of a stock take: ``lots`` maps inventory_id -> (drug_id, on_hand,
    unit cost). Every line is returned (differences of 0 included), in lot order."""
    return [
        CountDifference(c.inventory_id, lots[c.inventory_id][0], lots[c.inventory_id][1],
                        c.counted, lots[c.inventory_id][2])
        for c in sorted(lines, key=lambda c: c.inventory_id)
    ]


@dataclass(frozen=True)
class CountSummary:
    lots: int
    adjusted: int
    units_over: int
    units_short: int
    value_over: Decimal
    value_short: Decimal

    @property
    def net_units(self) -> int:
        return self.units_over - self.units_short

    @property
    def net_value(self) -> Decimal:
        return self.value_over - self.value_short


def summarize_count(diffs: Sequence[CountDifference]) -> CountSummary:
    """Variances of a stock take: units and value found over and short."""
    over = [d for d in diffs if d.difference > 0]
    short = [d for d in diffs if d.difference < 0]
    return CountSummary(
        lots=len(diffs), adjusted=len(over) + len(short),
        units_over=sum(d.difference for d in over),
        units_short=-sum(d.difference for d in short),
        value_over=sum((d.value for d in over), Decimal("0.00")),
        value_short=-sum((d.value for d in short), Decimal("0.00")),
    )


# -- reorder ---------------------------------------------------------------------

DEFAULT_LEAD_TIME_DAYS = 7
SAFETY_SHARE = Decimal("0.10")  # of average monthly usage, when no min level is set


@dataclass(frozen=True)
class ReorderInput:
    drug_id: int
    name: str
    supplier: str
    used: int  # units issued in the window
    window_days: int
    lead_time_days: int
    on_hand: int  # usable: not destroyed, not expired
    on_order: int
    max_level: int
    min_level: int | None
    units_per_package: int
    current_reorder_point: int


@dataclass(frozen=True)
class ReorderSuggestion:
    drug_id: int
    name: str
    supplier: str
    average_daily_usage: Decimal
    safety_stock: int
    reorder_point: int
    position: int  # on hand + on order
    order_now: bool
    packages: int
    units_per_package: int
    current_reorder_point: int

    @property
    def order_quantity(self) -> int:
        return self.packages * self.units_per_package


def reorder_suggestion(item: ReorderInput) -> ReorderSuggestion:
    """Seed 004: reorder point = average daily usage x lead time + safety stock, safety
    stock = min level, else 10 % of average monthly usage (30 days); both rounded up to
    whole units. Order when stock on hand + on order is at or below the point (and the
    point is positive); the quantity fills up to ``max_level`` in whole packages (at
    least one package), or, without a max level, covers the point plus a month's usage.
    """
    days = max(item.window_days, 1)
    daily = Decimal(max(item.used, 0)) / days
    monthly = daily * 30
    if item.min_level is not None and item.min_level > 0:
        safety = item.min_level
    else:
        safety = math.ceil(monthly * SAFETY_SHARE)
    point = math.ceil(daily * item.lead_time_days) + safety
    position = item.on_hand + item.on_order
    order_now = point > 0 and position <= point
    per_package = max(item.units_per_package, 1)
    packages = 0
    if order_now:
        target = item.max_level if item.max_level > 0 else point + math.ceil(monthly)
        packages = max((target - position) // per_package, 1)
    return ReorderSuggestion(
        item.drug_id, item.name, item.supplier, daily.quantize(COST_PLACES, ROUND_HALF_UP),
        safety, point, position, order_now, packages, per_package, item.current_reorder_point,
    )


# -- OpenEMR's Inventory Activity classification -----------------------------------

ACTIVITY_COLUMNS: tuple[str, ...] = (
    "sales", "distributions", "purchases", "transfers", "adjustments",
)


def classify_sale(
    *, lot_id: int, xfer_inventory_id: int, pid: int, distributor_id: int, fee: Decimal | float,
    quantity: int,
) -> tuple[str, int]:
    """One ``drug_sales`` row as seen from one lot, classified the way OpenEMR's
    Inventory Activity report does (interface/reports/inventory_activity.php):
    a transfer when it has a source lot (counted on both lots), else a sale when it
    has a patient, else a distribution, else a purchase when it carries a fee,
    else an adjustment. Returns (kind, signed quantity into the lot)."""
    if xfer_inventory_id:
        return "transfers", quantity if lot_id == xfer_inventory_id else -quantity
    if pid:
        return "sales", -quantity
    if distributor_id:
        return "distributions", -quantity
    if fee != 0:
        return "purchases", -quantity
    return "adjustments", -quantity


def inventory_activity_class(
    *, lot_id: int, inventory_id: int, xfer_inventory_id: int, pid: int,
    distributor_id: int, fee: Decimal, quantity: int,
) -> tuple[str, int]:
    """The column and signed quantity OpenEMR's Inventory Activity report
    (interface/reports/inventory_activity.php) puts a ``drug_sales`` row in, seen from
    lot ``lot_id``: :func:`classify_sale`."""
    return classify_sale(lot_id=lot_id, xfer_inventory_id=xfer_inventory_id, pid=pid,
                         distributor_id=distributor_id, fee=fee, quantity=quantity)
