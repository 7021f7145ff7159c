"""All SQL of the mapping commands (``procedure_products``), on the caller's
connection and transaction."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .domain import Mapping


def _mapping(r: Any) -> Mapping:
    return Mapping(int(r[0]), r[1] or "", r[2] or "", int(r[3]), r[4] or "", Decimal(r[5]))


_SELECT = (
    "SELECT pp.id, pp.code_type, pp.code, pp.drug_id, COALESCE(d.name, ''), pp.quantity "
    "FROM procedure_products pp LEFT JOIN drugs d ON d.drug_id = pp.drug_id "
)


class MappingRepository:
    """SQL on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def all(self) -> list[Mapping]:
        rows = self.conn.execute(
            text(_SELECT + "ORDER BY pp.code_type, pp.code, d.name, pp.drug_id")
        )
        return [_mapping(r) for r in rows]

    def lock_all(self) -> list[Mapping]:
        """Every mapping, locked, so an import decides on rows nobody changes meanwhile."""
        rows = self.conn.execute(text(_SELECT + "ORDER BY pp.id FOR UPDATE"))
        return [_mapping(r) for r in rows]

    def get(self, mapping_id: int) -> Mapping | None:
        row = self.conn.execute(text(_SELECT + "WHERE pp.id = :i"), {"i": mapping_id}).first()
        return _mapping(row) if row else None

    def find(self, code_type: str, code: str, drug_id: int) -> Mapping | None:
        """The mapping of that code and product, compared with the columns' collation
        (the same comparison the UNIQUE key makes)."""
        row = self.conn.execute(
            text(_SELECT + "WHERE pp.code_type = :t AND pp.code = :c AND pp.drug_id = :d"),
            {"t": code_type, "c": code, "d": drug_id},
        ).first()
        return _mapping(row) if row else None

    def products(self, product: int | str) -> Sequence[Any]:
        """(drug_id, name, active, dispensable) by id or exact name."""
        params: dict[str, int | str] = {"v": product}
        sql = "WHERE drug_id = :v" if isinstance(product, int) else "WHERE name = :v"
        return self.conn.execute(
            text("SELECT drug_id, name, COALESCE(active, 0), dispensable FROM drugs "
                 f"{sql} ORDER BY drug_id"), params
        ).all()

    def code_type_id(self, code_type: str) -> int | None:
        """``code_types.ct_id`` of a code type key such as 'CPT4' (None: unknown)."""
        value = self.conn.execute(
            text("SELECT ct_id FROM code_types WHERE ct_key = :k"), {"k": code_type}
        ).scalar()
        return int(value) if value is not None else None

    def code_exists(self, ct_id: int, code: str) -> bool:
        return bool(self.conn.execute(
            text("SELECT COUNT(*) FROM codes WHERE code_type = :t AND code = :c"),
            {"t": ct_id, "c": code},
        ).scalar())

    def insert(self, code_type: str, code: str, drug_id: int, quantity: Decimal) -> int:
        result = self.conn.execute(
            text("INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
                 "VALUES (:t, :c, :d, :q)"),
            {"t": code_type, "c": code, "d": drug_id, "q": quantity},
        )
        return int(result.lastrowid)

    def set_quantity(self, mapping_id: int, quantity: Decimal) -> None:
        self.conn.execute(
            text("UPDATE procedure_products SET quantity = :q WHERE id = :i"),
            {"q": quantity, "i": mapping_id},
        )

    def delete(self, mapping_id: int) -> None:
        self.conn.execute(text("DELETE FROM procedure_products WHERE id = :i"), {"i": mapping_id})
