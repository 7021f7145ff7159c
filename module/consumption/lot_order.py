"""Which lot a sale takes first: OpenEMR ``sellDrug``'s removal strategy, defined once.

``sellDrug`` (``interface/drugs/drugs.inc.php``) reads a product's lots
``ORDER BY di.warehouse_id != default, lo.seq, di.expiration, di.lot_number,
di.inventory_id``: the seller's default warehouse first, then warehouses by their list
order, then first-expiring first, ties by lot number (under the column's collation)
and id. :class:`RemovalStrategy` yields that order both as a Python sort key (the
allocator's, :func:`~.domain.allocate`) and as SQL ``ORDER BY`` text (the reconcile's
running-total snapshot and the nurse's lot picker), so the two cannot drift (as
Odoo's removal strategies carry their own order). Pure: the SQL here is only the
order's text; the repositories run it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

UNAVAILABLE_WAREHOUSE_SEQ = 99  # list_options seq above this: not sold from (sellDrug)

# The server's collation key of a lot number: ties on lot_number sort as OpenEMR's
# ``ORDER BY ... di.lot_number`` does under the column's collation ('ab1' = 'AB1',
# 'é1' = 'e1' in general_ci, trailing spaces ignored under PAD SPACE). ``AS CHAR(64)``
# pads the key the way the collation pads (a bare WEIGHT_STRING does not, so 'a\t'
# and 'a' would swap); OpenEMR's lot_number is VARCHAR(20).
LOT_KEY = "WEIGHT_STRING(lot_number AS CHAR(64))"


@dataclass(frozen=True)
class Lot:
    """One ``drug_inventory`` row as the allocator sees it.

    ``expiration`` is a date, None (no expiration), or the text of a date Python
    cannot hold (``'0000-00-00'``, ``'2026-02-00'``: stored by OpenEMR under an empty
    ``sql_mode`` and returned as text by the driver). ``lot_key`` is the server's
    collation key of ``lot_number`` (``WEIGHT_STRING``); without it (pure tests) the
    lot number's code points order the ties."""

    inventory_id: int
    drug_id: int
    on_hand: int
    warehouse_id: str = ""
    warehouse_seq: int | None = None
    expiration: date | str | None = None
    lot_number: str | None = None
    destroyed: bool = False
    lot_key: bytes | None = None


def date_text(value: date | str) -> str:
    """A date as MySQL (and so PHP) shows it: ``YYYY-MM-DD``; an invalid date's own text.
    Text order of these is the server's DATE order, zero dates first."""
    return value if isinstance(value, str) else value.isoformat()


def _sort_key(lot: Lot, default_warehouse: str = "") -> tuple[object, ...]:
    """``ORDER BY di.warehouse_id != default, lo.seq, di.expiration, di.lot_number,
    di.inventory_id`` with MySQL's NULLs-first ascending order; the lot number compares
    by the server's collation key when the repository read it."""

    def nulls_first(value: object) -> tuple[int, object]:
        return (0, "") if value is None else (1, value)

    not_default = 0 if default_warehouse == "" else int(lot.warehouse_id != default_warehouse)
    number = lot.lot_key
    if number is None and lot.lot_number is not None:
        number = lot.lot_number.encode("utf-32-be")  # code point order (no server key)
    return (
        not_default,
        nulls_first(lot.warehouse_seq),
        nulls_first(None if lot.expiration is None else date_text(lot.expiration)),
        nulls_first(number),
        lot.inventory_id,
    )


@dataclass(frozen=True)
class RemovalStrategy:
    """``sellDrug``'s lot order for a seller whose default warehouse is
    ``default_warehouse`` ("" = none: no warehouse is preferred)."""

    default_warehouse: str = ""

    def sort_key(self, lot: Lot) -> tuple[object, ...]:
        """The order as a Python sort key (MySQL's NULLs-first ascending order)."""
        return _sort_key(lot, self.default_warehouse)

    @staticmethod
    def group_sql(warehouse: str, alias: str = "di", seq: str = "lo.seq") -> str:
        """The ORDER BY terms up to the tie on lot number (the running-total cut groups
        by them). ``warehouse`` is the SQL text of the default warehouse (a bound
        parameter, used twice); ``alias`` names ``drug_inventory``, ``seq`` the
        warehouse's ``list_options.seq``."""
        return (f"({warehouse} <> '' AND COALESCE({alias}.warehouse_id, '') <> {warehouse}), "
                f"{seq}, {alias}.expiration")

    @staticmethod
    def lot_key_sql(alias: str = "di") -> str:
        """The collation key of the lot number (read as :attr:`Lot.lot_key`)."""
        return LOT_KEY.replace("lot_number", f"{alias}.lot_number")

    @classmethod
    def order_by_sql(cls, warehouse: str, alias: str = "di", seq: str = "lo.seq") -> str:
        """The whole order as SQL ``ORDER BY`` text (see :meth:`group_sql`)."""
        return (f"{cls.group_sql(warehouse, alias, seq)}, {cls.lot_key_sql(alias)}, "
                f"{alias}.inventory_id")


def lot_sort_key(lot: Lot, default_warehouse: str = "") -> tuple[object, ...]:
    """:meth:`RemovalStrategy.sort_key` of the strategy for ``default_warehouse``."""
    return RemovalStrategy(default_warehouse).sort_key(lot)
