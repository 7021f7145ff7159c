"""Pure rules and value types of the reports: stock status, days of cover, the
Inventory Activity classification, and mapping validation. No SQL here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from ..products.domain import PackageSettings
from ..stock.domain import classify_sale

__all__ = ["classify_sale"]  # the one rule lives with the stock rows it classifies

OK = "OK"
LOW = "LOW"
OUT_OF_STOCK = "OUT_OF_STOCK"

# Columns of OpenEMR's Inventory Activity report, in its order.
ACTIVITY_KINDS: tuple[str, ...] = ("sales", "distributions", "purchases", "transfers",
                                   "adjustments")


def stock_status(usable_on_hand: int, reorder_point: float | None) -> str:
    """Seed 003's rule on usable stock: nothing usable is OUT_OF_STOCK; at or below
    the reorder point (when one is set) is LOW; otherwise OK."""
    if usable_on_hand <= 0:
        return OUT_OF_STOCK
    if reorder_point is not None and reorder_point > 0 and usable_on_hand <= reorder_point:
        return LOW
    return OK


def days_of_cover(usable_on_hand: int, used_in_window: int, window_days: int) -> float | None:
    """How many days the usable stock lasts at the window's average daily use;
    None when nothing was used (cover is unbounded)."""
    if used_in_window <= 0 or window_days <= 0:
        return None
    return round(max(usable_on_hand, 0) / (used_in_window / window_days), 1)


@dataclass(frozen=True)
class StockRow:
    """One product of the stock view."""

    drug_id: int
    name: str
    active: bool
    dispensable: bool
    usable: int
    expired: int
    reorder_point: float
    used_90d: int
    status: str
    days_of_cover: float | None
    packaging: PackageSettings = PackageSettings()


@dataclass(frozen=True)
class LotRow:
    """One lot with its stock."""

    inventory_id: int
    drug_id: int
    product: str
    warehouse: str
    lot_number: str
    expiration: date | None
    days_left: int | None
    on_hand: int
    expired: bool
    unit_cost: Decimal = Decimal("0")
    packaging: PackageSettings = PackageSettings()

    @property
    def value(self) -> Decimal:
        return (self.unit_cost * self.on_hand).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class ActivityRow:
    """One product of the activity report: start, five movement kinds, end."""

    drug_id: int
    product: str
    start: int
    sales: int
    distributions: int
    purchases: int
    transfers: int
    adjustments: int
    end: int


@dataclass(frozen=True)
class Mapping:
    """A ``procedure_products`` row as the user sees it."""

    id: int | None
    code_type: str
    code: str
    drug_id: int
    product: str
    quantity: Decimal


@dataclass
class Validation:
    """Errors stop a change; warnings are printed and the change goes on."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def parse_quantity(raw: str | float | Decimal) -> Decimal:
    """A mapping quantity: a finite number above zero with at most four decimals
    (the column is decimal(12,4)). Raises ValueError with a one-line reason."""
    text = str(raw).strip()
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValueError(f"quantity must be a number, got {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"quantity must be a finite number, got {text!r}")
    if value <= 0:
        raise ValueError(f"quantity must be greater than 0, got {text}")
    if value != value.quantize(Decimal("0.0001")):
        raise ValueError(f"quantity has more than 4 decimals: {text}")
    if value >= Decimal("100000000"):
        raise ValueError(f"quantity is too large: {text}")
    return value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()


@dataclass(frozen=True)
class UsageCell:
    """Units of one product sold in one month, by one provider, for one procedure code
    (blank code_type/code: not made by a mapping; provider 0: none), and for the
    product's subtotal (``month`` None) the visits it was sold in."""

    drug_id: int
    product: str
    month: str | None
    provider_id: int
    provider: str
    code_type: str
    code: str
    units: int
    visits: int = 0


@dataclass(frozen=True)
class UsageBreakdowns:
    """The four ways of the usage report, each without the groups netting to zero."""

    by_product: list[dict[str, object]]
    by_code: list[dict[str, object]]
    by_provider: list[dict[str, object]]
    by_month: list[dict[str, object]]


def usage_breakdowns(subtotals: list[UsageCell], cells: list[UsageCell]) -> UsageBreakdowns:
    """Per product (from the product subtotals: units and distinct visits), and per
    code, provider and month (sums of the finest cells: product x month x provider x
    code). Orders as the report always did: most used product first; codes by type and
    code; providers by name; months by product then month; most units first within."""
    by_code: dict[tuple[str, str, int, str], int] = {}
    by_provider: dict[tuple[int, str, int, str], int] = {}
    by_month: dict[tuple[int, str, str], int] = {}
    for c in cells:
        month = c.month or ""
        key_c = (c.code_type, c.code, c.drug_id, c.product)
        by_code[key_c] = by_code.get(key_c, 0) + c.units
        key_p = (c.provider_id, c.provider, c.drug_id, c.product)
        by_provider[key_p] = by_provider.get(key_p, 0) + c.units
        key_m = (c.drug_id, c.product, month)
        by_month[key_m] = by_month.get(key_m, 0) + c.units
    products = sorted((s for s in subtotals if s.units),
                      key=lambda s: (-s.units, s.product.casefold(), s.drug_id))
    codes = sorted(((k, u) for k, u in by_code.items() if u),
                   key=lambda x: (x[0][0], x[0][1], -x[1], x[0][3].casefold(), x[0][2]))
    providers = sorted(((k, u) for k, u in by_provider.items() if u),
                       key=lambda x: (x[0][1].casefold(), -x[1], x[0][3].casefold(), x[0][2]))
    months = sorted(((k, u) for k, u in by_month.items() if u),
                    key=lambda x: (x[0][1].casefold(), x[0][0], x[0][2]))
    return UsageBreakdowns(
        [{"drug_id": s.drug_id, "product": s.product, "units": s.units, "visits": s.visits}
         for s in products],
        [{"code_type": ct, "code": code or "(not from a mapping)", "product": product,
          "units": units} for (ct, code, _, product), units in codes],
        [{"provider_id": pid, "provider": name or "(no provider)", "product": product,
          "units": units} for (pid, name, _, product), units in providers],
        [{"month": month, "drug_id": drug_id, "product": product, "units": units}
         for (drug_id, product, month), units in months],
    )
