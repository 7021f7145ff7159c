"""Mapping validity (``procedure_products``): quantity > 0 and finite, the product
present and active.

The rule is pure (:func:`validate_quantity`, :func:`mapping_problem`); the
:class:`MappingHealthRepository` owns the SQL that finds invalid mappings (``doctor``
uses it, and the consumption output can call it for the mappings of a visit); the
repair hook :func:`ensure_quantity_check` adds a CHECK constraint where the server
enforces one (MariaDB 10.2.1+, MySQL 8.0.16+).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..db import execute_raw, existing_tables
from ..errors import InvalidInputError
from .catalog import CatalogRepository
from .repairs import Repair

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


class MappingHealthRepository:
    """SQL that finds mappings the consumption engine cannot use."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def invalid_mappings(self, mapping_ids: Iterable[int] | None = None) -> list[InvalidMapping]:
        """Mappings with quantity <= 0, a missing or an inactive product (all of them,
        or only ``mapping_ids``)."""
        if not existing_tables(self.conn, [MAPPING_TABLE]):
            return []
        where = "(pp.quantity <= 0 OR d.drug_id IS NULL OR d.active = 0)"
        params: dict[str, object] = {}
        stmt = (
            "SELECT pp.id, pp.code_type, pp.code, pp.drug_id, pp.quantity, "
            "d.drug_id IS NOT NULL, COALESCE(d.active, 1) <> 0 "
            f"FROM {MAPPING_TABLE} pp LEFT JOIN drugs d ON d.drug_id = pp.drug_id WHERE {where}"
        )
        query = text(stmt + " ORDER BY pp.id")
        if mapping_ids is not None:
            ids = list(mapping_ids)
            if not ids:
                return []
            query = text(stmt + " AND pp.id IN :ids ORDER BY pp.id").bindparams(
                bindparam("ids", expanding=True)
            )
            params["ids"] = ids
        result = []
        for r in self.conn.execute(query, params):
            quantity = None if r[4] is None else Decimal(r[4])
            problem = mapping_problem(quantity, bool(r[5]), bool(r[6]))
            if problem is not None:
                result.append(
                    InvalidMapping(int(r[0]), str(r[1]), str(r[2]), int(r[3]), quantity, problem)
                )
        return result

    def has_quantity_check(self) -> bool:
        return bool(
            self.conn.execute(
                text(
                    "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS "
                    "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = :t "
                    "AND CONSTRAINT_TYPE = 'CHECK' AND CONSTRAINT_NAME = :n"
                ),
                {"t": MAPPING_TABLE, "n": CHECK_NAME},
            ).scalar()
        )

    def count_non_positive(self) -> int:
        return int(
            self.conn.execute(
                text(f"SELECT COUNT(*) FROM {MAPPING_TABLE} WHERE quantity <= 0")
            ).scalar()
            or 0
        )

    def add_quantity_check(self) -> None:
        execute_raw(
            self.conn,
            f"ALTER TABLE `{MAPPING_TABLE}` ADD CONSTRAINT `{CHECK_NAME}` CHECK (`quantity` > 0)",
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


def ensure_quantity_check(conn: Connection, *, dry_run: bool) -> list[Repair]:
    """Repair hook: add ``CHECK (quantity > 0)`` where the server enforces it.

    Blocked (reported, nothing changed) while a mapping violates it: fix or delete
    those mappings (``doctor`` lists them) and run ``migrate`` again.
    """
    if not existing_tables(conn, [MAPPING_TABLE]):
        return []
    if not server_enforces_check(CatalogRepository(conn).server_version()):
        return []
    repo = MappingHealthRepository(conn)
    if repo.has_quantity_check():
        return []
    bad = repo.count_non_positive()
    if bad:
        return [
            Repair(
                "constraint",
                f"CHECK (quantity > 0) on {MAPPING_TABLE} not added: {bad} mapping(s) "
                "have quantity <= 0 (fix them, then run migrate again)",
                blocked=True,
            )
        ]
    if not dry_run:
        repo.add_quantity_check()
    return [
        Repair("constraint", f"add CHECK (quantity > 0) on {MAPPING_TABLE}", applied=not dry_run)
    ]
