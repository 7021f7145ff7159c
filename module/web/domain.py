"""Pure rules of the web face: stock status, BOM costs, response rounding."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class StockStatus(StrEnum):
    OK = "OK"
    LOW = "LOW"
    OUT_OF_STOCK = "OUT_OF_STOCK"


def stock_status(current_stock: int | None, reorder_point: Decimal | float | None) -> StockStatus:
    """Seed 003's rule with OpenEMR's ``drugs.reorder_point`` as the minimum level."""
    if not current_stock or current_stock <= 0:
        return StockStatus.OUT_OF_STOCK
    if reorder_point is not None and current_stock <= Decimal(str(reorder_point)):
        return StockStatus.LOW
    return StockStatus.OK


def money(value: Decimal | None) -> float | None:
    """Round to cents for JSON (None stays None)."""
    if value is None:
        return None
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class BomLine:
    """One ``procedure_products`` row with its product's stock facts."""

    mapping_id: int
    drug_id: int
    product_name: str
    ndc: str
    unit: str
    quantity: Decimal
    current_stock: int
    reorder_point: float
    unit_cost: Decimal | None
    category: str = ""


def bom_line_json(line: BomLine, show_costs: bool) -> dict:
    """Seed 003's service-consumables entry; costs ``null`` without permission."""
    cost = (line.unit_cost * line.quantity) if (show_costs and line.unit_cost is not None) else None
    return {
        "mappingId": line.mapping_id,
        "itemMasterId": line.drug_id,
        "itemCode": line.ndc or str(line.drug_id),
        "itemName": line.product_name,
        "categoryName": line.category or None,
        "quantityRequired": float(line.quantity),
        "unitName": line.unit,
        "unitPrice": money(line.unit_cost) if show_costs else None,
        "totalCost": money(cost),
        "stockStatus": stock_status(line.current_stock, line.reorder_point).value,
        "currentStock": line.current_stock,
    }
