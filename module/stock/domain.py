"""Pure stock rules: receipt validation, CSV lines, average cost, count differences,
the reorder formula (seed 004) and the Inventory Activity classification OpenEMR's
report applies to ``drug_sales`` rows. No database here: frozen dataclasses in and out.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ..errors import InvalidInputError

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

# drug_inventory.lot_number is varchar(20) in OpenEMR's schema; drug_sales.notes 255
LOT_NUMBER_MAX = 20
NOTES_MAX = 255
COST_PLACES = Decimal("0.0001")
CENTS = Decimal("0.01")

DELIVERY_COLUMNS: tuple[str, ...] = (
    "product", "lot", "expires", "quantity", "unit_cost", "warehouse", "packages",
    "units_per_package",
)
DELIVERY_REQUIRED: tuple[str, ...] = ("product", "lot", "expires", "unit_cost")
COUNT_COLUMNS: tuple[str, ...] = ("lot_id", "counted", "notes")


class StockInputError(InvalidInputError):
    """A receipt, transfer, adjustment or count is invalid; nothing was written."""


@dataclass(frozen=True)
class LineError:
    """One problem of an input file: 1-based line (header = line 1) and column."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        if self.line == 0:  # from the command line: name the option
            return f"--{self.column.replace('_', '-')}: {self.message}"
        return f"line {self.line}, column {self.column}: {self.message}"


class FileValidationError(StockInputError):
    """An input file has invalid lines; carries every problem, names the first."""

    def __init__(self, source: str, errors: Sequence[LineError]) -> None:
        self.source = source
        self.errors = tuple(errors)
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        where = f"{source}: " if errors[0].line else ""
        super().__init__(f"{where}{errors[0]}{more}; nothing was written")


@dataclass(frozen=True)
class ReceiptLine:
    """One received lot: ``quantity`` units at ``unit_cost`` each (product by id or name)."""

    product: str
    lot_number: str
    expires: date
    quantity: int
    unit_cost: Decimal
    warehouse: str = ""
    units_per_package: int | None = None
    line: int = 0  # line in the delivery file (0 = command line)

    @property
    def total_cost(self) -> Decimal:
        return (self.unit_cost * self.quantity).quantize(CENTS, ROUND_HALF_UP)


def _positive_int(raw: str, column: str, line: int, errors: list[LineError]) -> int | None:
    try:
        value = int(raw.strip())
    except (ValueError, AttributeError):
        errors.append(LineError(line, column, f"expected a whole number, got {raw!r}"))
        return None
    if value <= 0:
        errors.append(LineError(line, column, f"must be positive, got {value}"))
        return None
    return value


def validate_receipt(
    *,
    product: str,
    lot_number: str,
    expires: str | date,
    quantity: str | int | None,
    unit_cost: str | Decimal,
    today: date,
    warehouse: str = "",
    packages: str | int | None = None,
    units_per_package: str | int | None = None,
    line: int = 0,
) -> tuple[ReceiptLine | None, list[LineError]]:
    """Check one receipt line (seed 004: expiry after the received date; positive
    quantity, non-negative cost) and return it with the list of its problems."""
    errors: list[LineError] = []
    product = (product or "").strip()
    if not product:
        errors.append(LineError(line, "product", "is empty"))
    lot_number = (lot_number or "").strip()
    if not lot_number:
        errors.append(LineError(line, "lot", "is empty"))
    elif len(lot_number) > LOT_NUMBER_MAX:
        errors.append(LineError(line, "lot", f"longer than {LOT_NUMBER_MAX} characters"))
    expiry: date | None = None
    if isinstance(expires, date):
        expiry = expires
    else:
        try:
            expiry = date.fromisoformat((expires or "").strip())
        except ValueError:
            errors.append(LineError(line, "expires", f"expected YYYY-MM-DD, got {expires!r}"))
    if expiry is not None and expiry <= today:
        errors.append(LineError(
            line, "expires", f"{expiry.isoformat()} is not after the receipt date "
            f"{today.isoformat()}"))
    cost: Decimal | None = None
    try:
        cost = Decimal(str(unit_cost).strip())
        if not cost.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError):
        errors.append(LineError(line, "unit_cost", f"expected a number, got {unit_cost!r}"))
        cost = None
    if cost is not None and cost < 0:
        errors.append(LineError(line, "unit_cost", f"must not be negative, got {cost}"))
    qty: int | None = None
    per_package: int | None = None
    has_packages = packages not in (None, "")
    if has_packages or units_per_package not in (None, ""):
        if not has_packages or units_per_package in (None, ""):
            errors.append(LineError(
                line, "packages", "packages and units_per_package go together"))
        else:
            n = _positive_int(str(packages), "packages", line, errors)
            per_package = _positive_int(str(units_per_package), "units_per_package", line, errors)
            if n is not None and per_package is not None:
                qty = n * per_package
                if quantity not in (None, "") and str(quantity).strip() != str(qty):
                    errors.append(LineError(
                        line, "quantity",
                        f"{quantity} differs from packages x units_per_package = {qty}"))
    elif quantity in (None, ""):
        errors.append(LineError(line, "quantity", "is empty"))
    else:
        qty = _positive_int(str(quantity), "quantity", line, errors)
    if errors or qty is None or cost is None or expiry is None:
        return None, errors
    return ReceiptLine(product, lot_number, expiry, qty, cost, (warehouse or "").strip(),
                       per_package, line), errors


def _read_csv(text: str, columns: tuple[str, ...], required: tuple[str, ...],
              source: str) -> list[tuple[int, dict[str, str]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = next(reader)
    except StopIteration:
        raise FileValidationError(source, [LineError(1, "-", "the file is empty")]) from None
    names = [h.strip().lower() for h in header]
    errors = [LineError(1, n or "-", "unknown column") for n in names if n not in columns]
    errors += [LineError(1, c, "missing column") for c in required if c not in names]
    if errors:
        raise FileValidationError(source, errors)
    rows: list[tuple[int, dict[str, str]]] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(names):
            raise FileValidationError(
                source, [LineError(line, "-", f"{len(values)} fields, header has {len(names)}")])
        rows.append((line, {n: (values[i] if i < len(values) else "") for i, n in
                            enumerate(names)}))
    if not rows:
        raise FileValidationError(source, [LineError(2, "-", "no data lines")])
    return rows


def with_package_size(
    units_per_package: str | int | None, packages: str | int | None, product: str,
    package_size: Callable[[str], int | None] | None,
) -> str | int | None:
    """``units_per_package`` as given, else (packages given) the product's package size
    from ``package_size``; an unknown product gets 1, so the receipt reports the
    product itself by name."""
    if packages in (None, "") or units_per_package not in (None, "") or package_size is None:
        return units_per_package
    return package_size(product.strip()) or 1


def parse_delivery(text: str, *, today: date, source: str = "delivery") -> list[ReceiptLine]:
    """Parse and validate a delivery CSV; every line is checked before anything is
    written, and the error names each bad line and column."""
    lines, errors = check_delivery(text, today=today, source=source)
    if errors:
        raise FileValidationError(source, errors)
    return lines


def check_delivery(text: str, *, today: date, source: str = "delivery",
                   package_size: Callable[[str], int | None] | None = None,
                   ) -> tuple[list[ReceiptLine], list[LineError]]:
    """The valid lines of a delivery CSV and the problems of the others (a header
    problem still raises), so the database checks can report on the valid ones too."""
    rows = _read_csv(text, DELIVERY_COLUMNS, DELIVERY_REQUIRED, source)
    lines: list[ReceiptLine] = []
    errors: list[LineError] = []
    for line, row in rows:
        parsed, problems = validate_receipt(
            product=row.get("product", ""), lot_number=row.get("lot", ""),
            expires=row.get("expires", ""), quantity=row.get("quantity"),
            unit_cost=row.get("unit_cost", ""), today=today,
            warehouse=row.get("warehouse", ""), packages=row.get("packages"),
            units_per_package=with_package_size(
                row.get("units_per_package"), row.get("packages"), row.get("product", ""),
                package_size),
            line=line,
        )
        errors += problems
        if parsed is not None:
            lines.append(parsed)
    return lines, errors


@dataclass(frozen=True)
class CountLine:
    """One counted lot."""

    inventory_id: int
    counted: int
    notes: str = ""
    line: int = 0


def parse_count(text: str, *, source: str = "count") -> list[CountLine]:
    """Parse a stock-take CSV (``lot_id,counted[,notes]``); a lot listed twice is an error."""
    rows = _read_csv(text, COUNT_COLUMNS, ("lot_id", "counted"), source)
    out: list[CountLine] = []
    errors: list[LineError] = []
    seen: dict[int, int] = {}
    for line, row in rows:
        try:
            lot = int(row["lot_id"].strip())
            if lot <= 0:
                raise ValueError
        except ValueError:
            errors.append(LineError(line, "lot_id", f"expected a lot id, got {row['lot_id']!r}"))
            continue
        try:
            counted = int(row["counted"].strip())
        except ValueError:
            errors.append(LineError(line, "counted",
                                    f"expected a whole number, got {row['counted']!r}"))
            continue
        if counted < 0:
            errors.append(LineError(line, "counted", f"must not be negative, got {counted}"))
            continue
        if lot in seen:
            errors.append(LineError(line, "lot_id", f"lot {lot} already counted on line "
                                                    f"{seen[lot]}"))
            continue
        seen[lot] = line
        out.append(CountLine(lot, counted, row.get("notes", "").strip()[:NOTES_MAX], line))
    if errors:
        raise FileValidationError(source, errors)
    return out


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


def inventory_activity_class(
    *, lot_id: int, inventory_id: int, xfer_inventory_id: int, pid: int,
    distributor_id: int, fee: Decimal, quantity: int,
) -> tuple[str, int]:
    """The column and signed quantity OpenEMR's Inventory Activity report
    (interface/reports/inventory_activity.php) puts a ``drug_sales`` row in, seen from
    lot ``lot_id``; the one rule lives in :func:`reports.domain.classify_sale`."""
    from ..reports.domain import classify_sale

    return classify_sale(lot_id=lot_id, xfer_inventory_id=xfer_inventory_id, pid=pid,
                         distributor_id=distributor_id, fee=fee, quantity=quantity)
