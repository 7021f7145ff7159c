"""``uninstall``: remove what ``migrate`` installed, triggers first.

Order matters: the triggers go first, so OpenEMR's own writes never meet a trigger
whose table is gone; then the module tables (unless ``keep_data``), the indexes the
module added to OpenEMR tables, and the service and module rows. OpenEMR's ledger is
the clinic's: ``AUTO_PROC`` rows in ``drug_sales`` and the product columns added to
``drugs``/``drug_inventory`` stay.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from ..db import require_openemr
from .health_repository import MODULE_DIRECTORY, SERVICE_NAME, HealthRepository
from .triggers import installed_triggers


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


def plan_uninstall(conn: Connection, *, keep_data: bool) -> tuple[Step, ...]:
    """What uninstall does on this database, in order (reads only)."""
    repo = HealthRepository(conn)
    steps = [
        Step(f"drop trigger {name}", f"DROP TRIGGER IF EXISTS `{name}`")
        for name in sorted(installed_triggers(conn))
    ]
    tables = repo.module_tables()
    if not keep_data:
        steps += [Step(f"drop table {t}", f"DROP TABLE IF EXISTS `{t}`") for t in tables]
    steps += [
        Step(f"drop index {t}.{i}", f"DROP INDEX `{i}` ON `{t}`")
        for t, i in repo.module_indexes_on(set(tables))
    ]
    if repo.has_service_row():
        steps.append(
            Step(
                f"delete background_services row {SERVICE_NAME}",
                f"DELETE FROM background_services WHERE name = '{SERVICE_NAME}'",
            )
        )
    if repo.has_module_row():
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
        # never creates the lock table on a database without the module (dry_run)
        with _migration_lock(conn, dry_run=True):
            steps = plan_uninstall(conn, keep_data=keep_data)
            if execute:
                HealthRepository(conn).run_uninstall_statements([s.sql for s in steps])
    return UninstallReport(steps, execute, keep_data)
