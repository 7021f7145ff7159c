"""Mapping validity (``procedure_products``): quantity > 0 and finite, the product
present and active.

The rules here are pure (:func:`validate_quantity`, :func:`mapping_problem`,
:func:`server_enforces_check`); ``MappingHealthRepository``
(``mapping_repository.py``) owns the SQL that finds invalid mappings (``doctor`` uses
it, and the consumption output can call it for the mappings of a visit); the repair
hook ``ensure_quantity_check`` (``repairs.py``) adds a CHECK constraint where the
server enforces one (MariaDB 10.2.1+, MySQL 8.0.16+).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ..errors import InvalidInputError

MAPPING_TABLE = "procedure_products"
CHECK_NAME = "aesthetic_inventory_quantity_positive"
# procedure_products.quantity is decimal(12,4).
MAX_QUANTITY = Decimal("99999999.9999")


def validate_quantity(value: object) -> Decimal:
    """A mapping quantity (inventory units per service unit): a finite number > 0
    that fits decimal(12,4). Raises :class:`InvalidInputError` otherwise."""
    try:
        quantity = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInputError(f"mapping quantity must be a number, got {value!r}") from None
    if not quantity.is_finite():
        raise InvalidInputError(f"mapping quantity must be finite, got {value!r}")
    if quantity <= 0:
        raise InvalidInputError(f"mapping quantity must be greater than 0, got {value!r}")
    if quantity > MAX_QUANTITY or quantity.as_tuple().exponent < -4:  # type: ignore[operator]
        raise InvalidInputError(
            f"mapping quantity must be at most {MAX_QUANTITY} with 4 decimals, got {value!r}"
        )
    return quantity


def mapping_problem(
    quantity: Decimal | None, product_exists: bool, product_active: bool
) -> str | None:
    """Why a stored mapping cannot be used, or None when it is valid."""
    if not product_exists:
        return "its product does not exist"
    if quantity is None or not quantity.is_finite() or quantity <= 0:
        return f"quantity {quantity} is not greater than 0"
    if not product_active:
        return "its product is inactive"
    return None


@dataclass(frozen=True)
class InvalidMapping:
    """One mapping that cannot be used, and why."""

    mapping_id: int
    code_type: str
    code: str
    drug_id: int
    quantity: Decimal | None
    problem: str

    def describe(self) -> str:
        return (
            f"mapping {self.mapping_id} ({self.code_type} {self.code} -> product "
            f"{self.drug_id}): {self.problem}"
        )


def server_enforces_check(version: str) -> bool:
    """CHECK constraints are enforced from MariaDB 10.2.1 and MySQL 8.0.16."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match is None:
        return False
    numbers = tuple(int(x) for x in match.groups())
    if "mariadb" in version.lower():
        return numbers >= (10, 2, 1)
    return numbers >= (8, 0, 16)
