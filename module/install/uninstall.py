"""``uninstall``: remove what ``migrate`` installed, triggers first.

Order matters: the triggers go first, so OpenEMR's own writes never meet a trigger
whose table is gone; then the module tables (unless ``keep_data``), the indexes the
module added to OpenEMR tables, and the service and module rows. OpenEMR's ledger is
the clinic's: ``AUTO_PROC`` rows in ``drug_sales`` and the product columns added to
``drugs``/``drug_inventory`` stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from ..db import MODULE_TABLE_PATTERN, execute_raw, existing_tables, require_openemr
from .triggers import installed_triggers

SERVICE_NAME = "AestheticInventoryAlerts"
MODULE_DIRECTORY = "aesthetic_inventory"
# Module tables without the prefix (SPEC section 4 names it).
UNPREFIXED_TABLES: tuple[str, ...] = ("procedure_products",)


@dataclass(frozen=True)
class Step:
    """One uninstall step: what it does and its statement."""

    description: str
    sql: str


@dataclass(frozen=True)
class UninstallReport:
    """The plan, and whether it was carried out."""

    steps: tuple[Step, ...]
    executed: bool
    keep_data: bool


def _module_tables(conn: Connection) -> list[str]:
    rows = conn.execute(
        text(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME LIKE :p ORDER BY TABLE_NAME"
        ),
        {"p": MODULE_TABLE_PATTERN},
    )
    names = [r[0] for r in rows]
    return sorted(existing_tables(conn, UNPREFIXED_TABLES)) + names


def _host_indexes(conn: Connection, module_tables: set[str]) -> list[tuple[str, str]]:
    rows = conn.execute(
        text(
            "SELECT DISTINCT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME LIKE :p ORDER BY 1, 2"
        ),
        {"p": MODULE_TABLE_PATTERN},
    )
    return [(t, i) for t, i in rows if t not in module_tables]


def plan_uninstall(conn: Connection, *, keep_data: bool) -> tuple[Step, ...]:
    """What uninstall does on this database, in order (reads only)."""
    steps = [
        Step(f"drop trigger {name}", f"DROP TRIGGER IF EXISTS `{name}`")
        for name in sorted(installed_triggers(conn))
    ]
    tables = _module_tables(conn)
    if not keep_data:
        steps += [Step(f"drop table {t}", f"DROP TABLE IF EXISTS `{t}`") for t in tables]
    steps += [
        Step(f"drop index {t}.{i}", f"DROP INDEX `{i}` ON `{t}`")
        for t, i in _host_indexes(conn, set(tables))
    ]
    if conn.execute(
        text("SELECT COUNT(*) FROM background_services WHERE name = :n"), {"n": SERVICE_NAME}
    ).scalar():
        steps.append(
            Step(
                f"delete background_services row {SERVICE_NAME}",
                f"DELETE FROM background_services WHERE name = '{SERVICE_NAME}'",
            )
        )
    if existing_tables(conn, ["modules"]) and conn.execute(
        text("SELECT COUNT(*) FROM modules WHERE mod_directory = :d"), {"d": MODULE_DIRECTORY}
    ).scalar():
        steps.append(
            Step(
                f"delete modules row {MODULE_DIRECTORY}",
                f"DELETE FROM modules WHERE mod_directory = '{MODULE_DIRECTORY}'",
            )
        )
    return tuple(steps)


def uninstall(engine: Engine, *, keep_data: bool = False, execute: bool = False) -> UninstallReport:
    """Plan the removal and, with ``execute``, carry it out (the plan only otherwise)."""
    from .service import _autocommit, _migration_lock

    with _autocommit(engine) as conn:
        require_openemr(conn)
        with _migration_lock(conn):
            steps = plan_uninstall(conn, keep_data=keep_data)
            if execute:
                # Module tables may reference each other; the order of drops must not matter.
                conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
                try:
                    for step in steps:
                        execute_raw(conn, step.sql)
                finally:
                    conn.exec_driver_sql("SET SESSION foreign_key_checks = 1")
    return UninstallReport(steps, execute, keep_data)
