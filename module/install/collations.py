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

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..db import mysql_error_code
from ..errors import AestheticInventoryError
from .catalog_repository import CatalogRepository, ColumnInfo
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
class Mismatch:
    """A module column whose collation differs from its OpenEMR counterpart's."""

    ours: ColumnInfo
    host: ColumnInfo

    def describe(self) -> str:
        o, h = self.ours, self.host
        return (
            f"{o.table}.{o.column} is {o.collation}, {h.table}.{h.column} is {h.collation}"
        )


def mismatches(conn: Connection) -> list[Mismatch]:
    """Aligned columns whose collation differs (both columns must exist)."""
    pairs = {(a.table, a.column) for a in ALIGNED_COLUMNS}
    pairs |= {(a.host_table, a.host_column) for a in ALIGNED_COLUMNS}
    info = CatalogRepository(conn).columns(pairs)
    result = []
    for a in ALIGNED_COLUMNS:
        ours, host = info.get((a.table, a.column)), info.get((a.host_table, a.host_column))
        if ours is None or host is None or host.collation is None:
            continue
        if ours.collation != host.collation:
            result.append(Mismatch(ours, host))
    return result


def align_collations(conn: Connection, *, dry_run: bool) -> list[Repair]:
    """Alter every mismatched module column to its OpenEMR column's charset and
    collation (one ALTER TABLE per module table)."""
    found = mismatches(conn)
    if not found:
        return []
    catalog = CatalogRepository(conn)
    mariadb = catalog.is_mariadb()
    by_table: dict[str, list[Mismatch]] = {}
    for m in found:
        by_table.setdefault(m.ours.table, []).append(m)
    repairs: list[Repair] = []
    for table, items in by_table.items():
        description = "; ".join(m.describe() for m in items) + ": align with OpenEMR"
        if not dry_run:
            targets = [(m.ours, str(m.host.charset), str(m.host.collation)) for m in items]
            try:
                catalog.modify_columns(table, targets, mariadb=mariadb)
            except DBAPIError as exc:
                detail = str(getattr(exc, "orig", exc)).splitlines()[0][:200]
                raise AestheticInventoryError(
                    f"cannot align the collation of {table} (MySQL error "
                    f"{mysql_error_code(exc)}): {detail}"
                ) from None
        repairs.append(Repair("collation", description, applied=not dry_run))
    return repairs
