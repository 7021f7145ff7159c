"""The SQL of mapping validity (``procedure_products``): the mappings the consumption
engine cannot use, and the CHECK (quantity > 0) constraint (:mod:`.mappings` holds the
rules, ``repairs.ensure_quantity_check`` decides)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..db import execute_raw, existing_tables
from .mappings import CHECK_NAME, MAPPING_TABLE, InvalidMapping, mapping_problem


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
