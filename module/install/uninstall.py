"""``uninstall``: remove what ``migrate`` installed, triggers first.

Order matters: the triggers go first, so OpenEMR's own writes never meet a trigger
whose table is gone; then the module tables (unless ``keep_data``), the indexes the
module added to OpenEMR tables, and the service and module rows. OpenEMR's ledger is
the clinic's: ``AUTO_PROC`` rows in ``drug_sales`` and the product columns added to
``drugs``/``drug_inventory`` stay.

Every privilege the plan needs is checked before anything changes (TRIGGER on each
table with a module trigger, DROP on each module table, INDEX on each OpenEMR table
with a module index, DELETE on ``background_services`` and ``modules``): a plan that
would stop half-way is refused whole, and ``--dry-run`` lists what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection, Engine

from ..db import require_openemr
from ..errors import AestheticInventoryError
from .catalog_repository import CatalogRepository
from .health_repository import (
    HealthRepository,
    delete_module_row,
    delete_service_row,
    drop_index,
    drop_table,
    drop_trigger,
)
from .service import autocommit, migration_lock
from .triggers import installed_triggers


class MissingPrivilegeError(AestheticInventoryError):
    """The database account lacks a privilege the uninstall plan needs."""


@dataclass(frozen=True)
class Step:
    """One uninstall step: what it does and its statement."""

    description: str
    sql: str
    privilege: str  # what the statement needs on ``table``
    table: str


@dataclass(frozen=True)
class UninstallReport:
    """The plan, and whether it was carried out."""

    steps: tuple[Step, ...]
    executed: bool
    keep_data: bool
    missing: tuple[str, ...] = ()  # privileges the plan needs and the account lacks


def plan_uninstall(conn: Connection, *, keep_data: bool) -> tuple[Step, ...]:
    """What uninstall does on this database, in order (reads only)."""
    repo = HealthRepository(conn)
    steps = [
        Step(*drop_trigger(t.name), "TRIGGER", t.table)
        for t in sorted(installed_triggers(conn).values(), key=lambda t: t.name)
    ]
    tables = repo.module_tables()
    if not keep_data:
        steps += [Step(*drop_table(t), "DROP", t) for t in tables]
    steps += [
        Step(*drop_index(t, i), "INDEX", t) for t, i in repo.module_indexes_on(set(tables))
    ]
    if repo.has_service_row():
        steps.append(Step(*delete_service_row(), "DELETE", "background_services"))
    if repo.has_module_row():
        steps.append(Step(*delete_module_row(), "DELETE", "modules"))
    return tuple(steps)


def missing_privileges(conn: Connection, steps: tuple[Step, ...]) -> tuple[str, ...]:
    """``PRIVILEGE on table, table...`` for each privilege the plan needs on tables where
    this account lacks it (global, database or table grants count)."""
    catalog = CatalogRepository(conn)
    me = catalog.current_user()
    lacking: dict[str, list[str]] = {}
    for privilege, table in sorted({(s.privilege, s.table) for s in steps}):
        if not catalog.has_privilege(me, privilege, table):
            lacking.setdefault(privilege, []).append(table)
    return tuple(f"{p} on {', '.join(tables)}" for p, tables in lacking.items())


def uninstall(engine: Engine, *, keep_data: bool = False, execute: bool = False) -> UninstallReport:
    """Plan the removal and, with ``execute``, carry it out (the plan only otherwise).
    Refuses, changing nothing, when the account lacks a privilege the plan needs."""
    with autocommit(engine) as conn:
        require_openemr(conn)
        # never creates the lock table on a database without the module (dry_run)
        with migration_lock(conn, dry_run=True):
            steps = plan_uninstall(conn, keep_data=keep_data)
            missing = missing_privileges(conn, steps)
            if execute and missing:
                raise MissingPrivilegeError(
                    "uninstall needs " + "; ".join(missing) + "; nothing was changed "
                    "(grant them, or run uninstall as the migrating account)"
                )
            if execute:
                HealthRepository(conn).run_uninstall_statements([s.sql for s in steps])
    return UninstallReport(steps, execute, keep_data, missing)
