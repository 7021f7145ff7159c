"""Module columns compared with OpenEMR columns take that column's charset and
collation, read at migrate time.

OpenEMR's installer lets the admin choose the database collation
(``utf8mb4_general_ci`` by default, ``utf8mb4_unicode_ci``, language collations; old
sites keep ``utf8mb3``/``latin1`` tables). Two columns with different collations
cannot be compared (MySQL error 1267, illegal mix of collations), so every column
listed in :data:`ALIGNED_COLUMNS` is altered to match its OpenEMR counterpart. A
package that adds such a column adds one line here.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..db import execute_raw, mysql_error_code
from ..errors import AestheticInventoryError
from .repairs import Repair


@dataclass(frozen=True)
class AlignedColumn:
    """``table.column`` (ours) is compared with ``host_table.host_column`` (OpenEMR's)."""

    table: str
    column: str
    host_table: str
    host_column: str


ALIGNED_COLUMNS: tuple[AlignedColumn, ...] = (
    AlignedColumn("procedure_products", "code_type", "billing", "code_type"),
    AlignedColumn("procedure_products", "code", "billing", "code"),
    AlignedColumn("aesthetic_inventory_usage", "code_type", "billing", "code_type"),
    AlignedColumn("aesthetic_inventory_usage", "code", "billing", "code"),
    AlignedColumn("aesthetic_inventory_service_claims", "name", "background_services", "name"),
)


@dataclass(frozen=True)
class ColumnInfo:
    """What information_schema says about one column."""

    table: str
    column: str
    column_type: str
    charset: str | None
    collation: str | None
    nullable: bool
    default: str | None
    comment: str


@dataclass(frozen=True)
class Mismatch:
    """A module column whose collation differs from its OpenEMR counterpart's."""

    ours: ColumnInfo
    host: ColumnInfo

    def describe(self) -> str:
        o, h = self.ours, self.host
        return (
            f"{o.table}.{o.column} is {o.collation}, {h.table}.{h.column} is {h.collation}"
        )


def _columns(conn: Connection, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], ColumnInfo]:
    if not pairs:
        return {}
    tables = sorted({t for t, _ in pairs})
    rows = conn.execute(
        text(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, COLLATION_NAME, "
            "IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :tables"
        ).bindparams(bindparam("tables", expanding=True)),
        {"tables": tables},
    )
    found: dict[tuple[str, str], ColumnInfo] = {}
    for r in rows:
        if (r[0], r[1]) in pairs:
            found[(r[0], r[1])] = ColumnInfo(
                r[0], r[1], r[2], r[3], r[4], r[5] == "YES", r[6], r[7] or ""
            )
    return found


def mismatches(conn: Connection) -> list[Mismatch]:
    """Aligned columns whose collation differs (both columns must exist)."""
    pairs = {(a.table, a.column) for a in ALIGNED_COLUMNS}
    pairs |= {(a.host_table, a.host_column) for a in ALIGNED_COLUMNS}
    info = _columns(conn, pairs)
    result = []
    for a in ALIGNED_COLUMNS:
        ours, host = info.get((a.table, a.column)), info.get((a.host_table, a.host_column))
        if ours is None or host is None or host.collation is None:
            continue
        if ours.collation != host.collation:
            result.append(Mismatch(ours, host))
    return result


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _default_clause(col: ColumnInfo, mariadb: bool) -> str:
    if col.default is None:
        return ""
    if col.default == "NULL" and col.nullable:
        return " DEFAULT NULL"
    # MariaDB (10.2.7+) reports defaults as SQL literals; MySQL reports the raw value.
    return f" DEFAULT {col.default if mariadb else _quote(col.default)}"


def column_definition(col: ColumnInfo, charset: str, collation: str, mariadb: bool) -> str:
    """``MODIFY`` clause keeping type, nullability, default and comment."""
    clause = (
        f"MODIFY `{col.column}` {col.column_type} CHARACTER SET {charset} COLLATE {collation}"
        f"{'' if col.nullable else ' NOT NULL'}{_default_clause(col, mariadb)}"
    )
    if col.comment:
        clause += f" COMMENT {_quote(col.comment)}"
    return clause


def align_collations(conn: Connection, *, dry_run: bool) -> list[Repair]:
    """Alter every mismatched module column to its OpenEMR column's charset and
    collation (one ALTER TABLE per module table)."""
    found = mismatches(conn)
    if not found:
        return []
    mariadb = "mariadb" in str(conn.execute(text("SELECT VERSION()")).scalar()).lower()
    by_table: dict[str, list[Mismatch]] = {}
    for m in found:
        by_table.setdefault(m.ours.table, []).append(m)
    repairs: list[Repair] = []
    for table, items in by_table.items():
        clauses = [
            column_definition(m.ours, str(m.host.charset), str(m.host.collation), mariadb)
            for m in items
        ]
        description = "; ".join(m.describe() for m in items) + ": align with OpenEMR"
        if not dry_run:
            sql = f"ALTER TABLE `{table}` " + ", ".join(clauses)
            try:
                execute_raw(conn, sql)
            except DBAPIError as exc:
                detail = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
                raise AestheticInventoryError(
                    f"cannot align the collation of {table} (MySQL error "
                    f"{mysql_error_code(exc)}): {detail}"
                ) from None
        repairs.append(Repair("collation", description, applied=not dry_run))
    return repairs
