"""Row types of the stock package's read-only reports (ledger, valuation, reorder).
The statements that fill them live in :mod:`.read_repository`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class LedgerRow:
    id: int
    created_at: object
    movement: str
    inventory_id: int
    drug_id: int
    product: str
    lot_number: str
    quantity: int
    unit_cost: Decimal
    reference_type: str
    reference_id: str
    reason: str
    user: str
    notes: str


@dataclass(frozen=True)
class ValuationRow:
    """One lot held: its product, where it is, units, and costs with the fallback."""

    drug_id: int
    name: str
    category: str
    warehouse: str
    on_hand: int
    lot_cost: Decimal
    average_cost: Decimal
    last_cost: Decimal


@dataclass(frozen=True)
class ReorderRow:
    drug_id: int
    name: str
    supplier: str
    used: int
    usable: int
    on_order: int
    max_level: int
    min_level: int | None
    units_per_package: int
    reorder_point: int
    lead_time_days: int | None


@dataclass(frozen=True)
class PackageRow:
    """A product counted in units: its package size, counting unit and package unit."""

    drug_id: int
    units_per_package: int
    counting_unit: str
    package_unit: str
