"""The one definition of *usable stock* and of *a lot's cost*, as SQL fragments and as
pure Python, shared by ``stock``, the stock API, ``reorder``, the valuation, the
reports and the movement ledger (and meant for ``usage show`` / the materials API).

Usable: a lot that is not destroyed, holds stock (``on_hand > 0``), is not expired and
sits in an available warehouse. Expired means ``expiration <= today`` as OpenEMR's
``sellDrug`` skips it; a blank expiry stored as ``'0000-00-00'`` compares below every
date, so it counts as expired; a NULL expiry never expires. A warehouse is available
when it has no ``list_options`` row or its ``seq`` is at most 99 (``sellDrug``).

A lot's cost: its own ``unit_cost``; OpenEMR's own lot screen leaves it 0, so 0 falls
back to the product's weighted average cost (``aesthetic_inventory_product_stock``),
then to the product's ``drugs.unit_cost``, then 0. No SQL is executed here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

PRODUCT_STOCK_TABLE = "aesthetic_inventory_product_stock"
UNAVAILABLE_WAREHOUSE_SEQ = 99


def expired_sql(lot: str = "di", today: str = ":today") -> str:
    """True for an expired lot (a blank, zero-date expiry included)."""
    return f"({lot}.expiration IS NOT NULL AND {lot}.expiration <= {today})"


def warehouse_join_sql(lot: str = "di", alias: str = "lo") -> str:
    """The ``list_options`` row of a lot's warehouse (LEFT JOIN: may be missing)."""
    return (f"LEFT JOIN list_options {alias} ON {alias}.list_id = 'warehouse' "
            f"AND {alias}.option_id = {lot}.warehouse_id")


def available_warehouse_sql(alias: str = "lo") -> str:
    """True when the lot's warehouse is available (needs :func:`warehouse_join_sql`)."""
    return f"({alias}.seq IS NULL OR {alias}.seq <= {UNAVAILABLE_WAREHOUSE_SEQ})"


def held_sql(lot: str = "di") -> str:
    """A lot that still holds stock: not destroyed, on hand above zero."""
    return f"({lot}.destroy_date IS NULL AND {lot}.on_hand > 0)"


def usable_sql(lot: str = "di", warehouse: str = "lo", today: str = ":today") -> str:
    """True for a usable lot (needs :func:`warehouse_join_sql` under ``warehouse``)."""
    return (f"({held_sql(lot)} AND NOT {expired_sql(lot, today)} "
            f"AND {available_warehouse_sql(warehouse)})")


def product_cost_sql(product_stock: str = "ps", drug: str = "d") -> str:
    """A product's cost: weighted average (when known and not 0), else drugs.unit_cost."""
    return f"COALESCE(NULLIF({product_stock}.average_cost, 0), {drug}.unit_cost, 0)"


def lot_cost_sql(lot: str = "di", product_stock: str = "ps", drug: str = "d") -> str:
    """A lot's cost with the fallback (needs drugs and a LEFT JOIN of product stock)."""
    return f"COALESCE(NULLIF({lot}.unit_cost, 0), {product_cost_sql(product_stock, drug)})"


def product_stock_join_sql(drug: str = "d", alias: str = "ps") -> str:
    """The product's cost row (LEFT JOIN: a product never received has none)."""
    return f"LEFT JOIN {PRODUCT_STOCK_TABLE} {alias} ON {alias}.drug_id = {drug}.drug_id"


def is_expired(expiration: date | str | None, today: date) -> bool:
    """Python twin of :func:`expired_sql`. The driver hands a zero date over as the
    text ``'0000-00-00'``, which compares below every date as it does in SQL."""
    if expiration is None:
        return False
    if isinstance(expiration, str):
        return expiration <= today.isoformat()
    return expiration <= today


def is_usable(*, destroyed: bool, on_hand: int, expiration: date | str | None,
              warehouse_seq: int | None, today: date) -> bool:
    """Python twin of :func:`usable_sql`."""
    return (not destroyed and on_hand > 0 and not is_expired(expiration, today)
            and (warehouse_seq is None or warehouse_seq <= UNAVAILABLE_WAREHOUSE_SEQ))


def product_cost(average_cost: Decimal | None, product_unit_cost: Decimal | None) -> Decimal:
    """Python twin of :func:`product_cost_sql`."""
    if average_cost:
        return average_cost
    return product_unit_cost or Decimal(0)


def lot_cost(lot_unit_cost: Decimal | None, average_cost: Decimal | None,
             product_unit_cost: Decimal | None) -> Decimal:
    """Python twin of :func:`lot_cost_sql`: the lot's cost, 0 falling back."""
    if lot_unit_cost:
        return lot_unit_cost
    return product_cost(average_cost, product_unit_cost)
