"""Repair hooks of ``migrate``: verify the installed state, not only the record of
applied files (Alembic style: read, decide, apply, record).

Each hook reads the database, decides what differs from what the module needs and,
unless it is a dry run, applies the fix; it returns one :class:`Repair` per thing it
did (or would do), which ``migrate`` records in its report and ``doctor`` shows as a
problem. Hooks run in :data:`migrate` order after the pending files: schema first
(a re-created table then gets its collation aligned), then collations, then the
mapping CHECK constraint; the triggers come last (:mod:`.triggers`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from ..db import existing_tables
from ..migrations import runner
from ..migrations.directives import parse_sql
from .catalog_repository import CatalogRepository
from .mapping_repository import MappingHealthRepository
from .mappings import MAPPING_TABLE, server_enforces_check

# Guards that describe a state to reach ("create it when it is missing"): re-checking
# them on every migrate converges (after the block ran the condition is false) and
# cannot undo a later file. Transformations (#IfTable, #IfColumn, #IfRow,
# #IfNotColumnType, #IfNotRow2D/3D, unguarded statements) run once, when the file is
# applied.
HEALING_GUARDS = frozenset({"IfNotTable", "IfMissingColumn", "IfNotIndex", "IfNotRow"})


@dataclass(frozen=True)
class Repair:
    """One difference between the installed state and what the module needs."""

    hook: str  # "schema", "collation", "constraint"
    description: str  # what is (or was) wrong and what the fix does
    applied: bool = False  # False in a dry run, or when the fix is blocked
    blocked: bool = False  # the fix cannot be applied yet (the reason is in description)


def repair_schema(
    conn: Connection, files: Sequence[runner.UpgradeFile], *, dry_run: bool
) -> list[Repair]:
    """Re-check the creation guards of applied files and run the blocks whose object
    is missing (module tables, added columns, indexes, the service and module rows).

    Blocks are evaluated in file order right before they would run, as when the file
    was first applied, so a table re-created by one file gets the columns a later
    file added to it.
    """
    repairs: list[Repair] = []
    for upgrade in files:
        parsed = parse_sql(upgrade.text, upgrade.name)
        for block in parsed.blocks:
            cond = block.condition
            if cond is None or cond.kind not in HEALING_GUARDS:
                continue
            run, reason = runner.evaluate(conn, cond)
            if not run:
                continue
            for stmt in block.statements:
                what = runner.describe(stmt.sql, planned=True)
                description = f"{upgrade.name}:{stmt.line}: {reason}: {what}"
                if not dry_run:
                    runner.execute_statement(conn, upgrade.name, stmt)
                repairs.append(Repair("schema", description, applied=not dry_run))
    return repairs


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
