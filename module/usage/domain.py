"""Pure rules of planned versus actual usage (no SQL).

* the **variance** is ``actual - planned``; a **reason** is required when it is not zero
  (seed 003's reasons);
* the **target** of a mapping's reconcile is the recorded actual when there is one,
  else the plan, rounded up to whole inventory units (``drug_sales.quantity`` is an
  INT; the exact values are kept in the usage record);
* a **named lot** ("the vial in hand") keeps the mapping's units in that lot: unbilled
  rows held in other lots go back, the difference is taken from (or returned to) the
  named lot; billed rows are frozen;
* an **identical update** changes nothing (no write, no history row);
* an **edit on OpenEMR's fee sheet** of an ``AUTO_PROC`` row is actual usage: the units
  the mapping holds after the edit become its actual (reason ``OTHER``).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ..consumption.actuals import (  # re-exported: the usage API names them here
    FEE_SHEET_REASON,
    SOURCE_FEE_SHEET,
    SOURCE_USAGE,
    Actual,
    FeeSheetEdit,
    allocate_from_lot,
    fee_sheet_actuals,
    plan_mapping_in_lot,
)
from ..consumption.domain import Lot, required_units
from ..errors import InvalidInputError

__all__ = [
    "FEE_SHEET_REASON", "REASONS", "SOURCE_FEE_SHEET", "SOURCE_USAGE", "Actual", "FeeSheetEdit",
    "adjustment_reason", "allocate_from_lot", "check_named_lot", "check_notes", "check_reason",
    "cost", "decimal_text", "fee_sheet_actuals", "implausible_actual", "parse_actual",
    "plan_mapping_in_lot", "stock_status", "target_units", "variance",
]

REASONS: tuple[str, ...] = (
    "ADDITIONAL_USAGE",
    "LESS_THAN_PLANNED",
    "WASTAGE",
    "PROCEDURE_COMPLEXITY",
    "OTHER",
)
MAX_ACTUAL = Decimal("9999999999")  # decimal(14,4)
# An actual above both of these asks for an explicit confirmation (a typo such as 5000
# for 5 would otherwise take every unit of the product).
IMPLAUSIBLE_TIMES_PLAN = 3
IMPLAUSIBLE_PACKAGES = 2
MAX_NOTES = 1000


def parse_actual(value: object) -> Decimal:
    """An actual quantity from user input: a finite decimal >= 0 with at most 4 places."""
    try:
        quantity = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInputError(f"actual quantity must be a number, got {value!r}") from None
    if not quantity.is_finite():
        raise InvalidInputError(f"actual quantity must be a number, got {value!r}")
    if quantity < 0:
        raise InvalidInputError(f"actual quantity must be 0 or more, got {value}")
    if quantity > MAX_ACTUAL:
        raise InvalidInputError(f"actual quantity is too large: {value}")
    if quantity != quantity.quantize(Decimal("0.0001")):
        raise InvalidInputError(f"actual quantity has more than 4 decimal places: {value}")
    return quantity.quantize(Decimal("0.0001"))


def variance(planned: Decimal, actual: Decimal | None) -> Decimal | None:
    """``actual - planned``; None while no actual is recorded."""
    return None if actual is None else Decimal(actual) - Decimal(planned)


def check_reason(planned: Decimal, actual: Decimal, reason: str | None) -> str | None:
    """The normalised reason (upper case), or an error: unknown reason, or none given
    while actual and plan differ. A reason given with zero variance is kept."""
    norm = reason.strip().upper() if reason and reason.strip() else None
    if norm is not None and norm not in REASONS:
        raise InvalidInputError(
            f"unknown reason {reason!r}; use one of " + ", ".join(REASONS)
        )
    if norm is None and variance(planned, actual) != 0:
        raise InvalidInputError(
            f"a reason is required when the actual ({_fmt(actual)}) differs from the plan "
            f"({_fmt(planned)}); use one of " + ", ".join(REASONS)
        )
    return norm


def implausible_actual(planned: Decimal, actual: Decimal, package_size: int) -> str | None:
    """Why ``actual`` needs a confirmation, or None: it is more than 3x the plan AND more
    than 2 packages of the product (``package_size`` counting units per package)."""
    packages = Decimal(IMPLAUSIBLE_PACKAGES * max(package_size, 1))
    if actual > IMPLAUSIBLE_TIMES_PLAN * Decimal(planned) and actual > packages:
        return (f"actual {_fmt(actual)} is more than {IMPLAUSIBLE_TIMES_PLAN}x the plan "
                f"({_fmt(planned)}) and more than {IMPLAUSIBLE_PACKAGES} packages "
                f"({_fmt(packages)} units)")
    return None


def check_notes(notes: str | None) -> str | None:
    """Notes as stored: stripped, None when empty, at most 1000 characters."""
    if notes is None or not notes.strip():
        return None
    if len(notes) > MAX_NOTES:
        raise InvalidInputError(f"notes are limited to {MAX_NOTES} characters")
    return notes.strip()


def target_units(planned: Decimal, actual: Decimal | None) -> int:
    """Whole units the mapping's rows must hold: the actual when recorded, else the plan,
    rounded up."""
    return required_units(planned if actual is None else actual)


def check_named_lot(lot: Lot | None, *, drug_id: int, units: int, held_in_lot: int,
                    label: str) -> None:
    """Refuse a named lot that cannot hold the mapping's units: unknown, another
    product, destroyed, or short (its on_hand plus what the visit already holds from it
    is below the target)."""
    if lot is None:
        raise InvalidInputError(f"{label}: no such lot")
    if lot.drug_id != drug_id:
        raise InvalidInputError(f"{label}: lot {lot.lot_number or lot.inventory_id} is another "
                                "product")
    if lot.destroyed:
        raise InvalidInputError(f"{label}: lot {lot.lot_number or lot.inventory_id} is destroyed")
    available = max(lot.on_hand, 0) + held_in_lot
    if available < units:
        raise InvalidInputError(
            f"{label}: lot {lot.lot_number or lot.inventory_id} is short: it can cover "
            f"{available} of {units} unit(s)"
        )


def stock_status(current: int, reorder_point: float | Decimal | None) -> str:
    """Seed 003: OUT_OF_STOCK at 0 (or less), LOW at or below the reorder point, else OK."""
    if current <= 0:
        return "OUT_OF_STOCK"
    if reorder_point is not None and Decimal(str(reorder_point)) > 0 and current <= Decimal(
        str(reorder_point)
    ):
        return "LOW"
    return "OK"


def cost(quantity: Decimal | None, unit_cost: Decimal | None, can_see_costs: bool
         ) -> Decimal | None:
    """quantity x unit cost, or None when the user may not see costs (or nothing to price)."""
    if not can_see_costs or quantity is None or unit_cost is None:
        return None
    return (Decimal(quantity) * Decimal(unit_cost)).quantize(Decimal("0.01"))


def adjustment_reason(units: int) -> str:
    """Seed 003's stock-adjustment wording for a unit change (positive = taken)."""
    if units > 0:
        return "additional usage"
    if units < 0:
        return "less than planned"
    return "no change"


def _fmt(value: Decimal) -> str:
    text = format(Decimal(value).normalize(), "f")
    return text


def decimal_text(value: Decimal | None) -> str | None:
    """Decimals as strings in JSON (no float rounding), trailing zeros trimmed."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text
