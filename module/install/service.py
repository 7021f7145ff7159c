"""Schema service: migrate, status and sample data, on top of the runner.

Functions take an engine and return frozen reports; they never print.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from ..alerts.background import BackgroundServiceRepository
from ..consumption.repositories.health import SetAsideVisit, installed_set_aside_visits
from ..db import connect, require_innodb, require_openemr
from ..errors import AestheticInventoryError, ChecksumMismatchError, MigrationError
from ..migrations import runner
from ..migrations.directives import parse_sql
from ..migrations.runner import SchemaNotMigratedError, require_migrated
from ..resources import sql_dir
from . import collations, repairs, triggers
from .ledger_seal import SealOutcome, seal_ledger
from .repository import InstallRepository

# The schema preflight lives in migrations.runner (below every package); callers that
# import it from here keep working.
__all__ = ["SchemaNotMigratedError", "migrate", "require_migrated", "status"]

log = logging.getLogger("aesthetic_inventory.install")

SAMPLE_DATA_FILE = "aesthetic_inventory_sample_data.sql"
# Serialises concurrent migrations of one database (two admins, or a service start).
_LOCK_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class MigrationReport:
    """What migrate did (or, in a dry run, would do)."""

    dry_run: bool
    files: tuple[runner.FileReport, ...]
    already_applied: tuple[str, ...]
    triggers: triggers.TriggerReport | None
    repairs: tuple[repairs.Repair, ...] = ()
    ledger_seal: SealOutcome | None = None  # None in a dry run

    @property
    def changed(self) -> bool:
        """True when at least one file was (or would be) applied."""
        return bool(self.files)


@dataclass(frozen=True)
class StatusReport:
    """Applied/pending/changed files, versions, triggers and the service row."""

    files: tuple[runner.FilePlan, ...]
    module_version: str | None
    openemr_version: str | None
    openemr_database_version: int | None
    triggers: triggers.TriggerReport | None
    service: dict[str, object] | None = field(default=None)
    # visits whose reconcile failed, waiting for their next try (engine, 519_01)
    set_aside: tuple[SetAsideVisit, ...] = ()

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files if f.state == runner.PENDING)

    @property
    def applied(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files if f.state == runner.APPLIED)

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.files if f.state == runner.CHANGED)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form (used by ``status --json``)."""
        return {
            "files": [
                {
                    "name": f.name,
                    "state": f.state,
                    "checksum": f.checksum,
                    "applied_at": f.applied_at,
                }
                for f in self.files
            ],
            "applied": list(self.applied),
            "pending": list(self.pending),
            "changed": list(self.changed),
            "module_version": self.module_version,
            "openemr_version": self.openemr_version,
            "openemr_database_version": self.openemr_database_version,
            "triggers": None
            if self.triggers is None
            else {
                "installed": self.triggers.installed,
                "mode": self.triggers.mode,
                "message": self.triggers.message,
            },
            "service": self.service,
            "set_aside_visits": [
                {"pid": v.pid, "encounter": v.encounter, "attempts": v.attempts,
                 "last_error": v.last_error,
                 "next_try_at": None if v.next_try_at is None else str(v.next_try_at)}
                for v in self.set_aside
            ],
        }


@contextmanager
def autocommit(engine: Engine) -> Iterator[Connection]:
    """A connection in autocommit mode: DDL commits implicitly anyway, so each
    guarded statement stands on its own (as with OpenEMR's own upgrader)."""
    conn = connect(engine)
    try:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")
    finally:
        conn.close()


@contextmanager
def migration_lock(conn: Connection, *, dry_run: bool) -> Iterator[None]:
    repo = InstallRepository(conn)
    if not repo.acquire_migration_lock(_LOCK_TIMEOUT_SECONDS, dry_run=dry_run):
        raise AestheticInventoryError(
            "another migration of this database is running; try again later"
        )
    try:
        yield
    finally:
        repo.release_migration_lock()


def migrate(
    engine: Engine, *, dry_run: bool = False, directory: Path | None = None
) -> MigrationReport:
    """Apply pending upgrade files, then make sure the billing triggers exist.

    Refuses (writing nothing) a database without OpenEMR's core tables or with
    non-InnoDB stock tables, and an applied file whose checksum changed. A dry run
    writes nothing at all, not even the record table, and returns the plan.
    """
    files = runner.discover(directory)
    # Parse everything first: a malformed file stops the run before any write.
    for f in files:
        parse_sql(f.text, f.name)
    with autocommit(engine) as conn:
        require_openemr(conn)
        require_innodb(conn)
        with migration_lock(conn, dry_run=dry_run):
            plans = runner.plan(conn, files)
            changed = [p for p in plans if p.state == runner.CHANGED]
            if changed:
                names = ", ".join(p.name for p in changed)
                raise ChecksumMismatchError(
                    f"applied upgrade file(s) changed since they were applied: {names}; "
                    "restore the original file(s) and put changes in a new file"
                )
            pending = {p.name for p in plans if p.state == runner.PENDING}
            already = tuple(p.name for p in plans if p.state == runner.APPLIED)
            if not dry_run and pending:
                runner.ensure_record_table(conn)
            reports = tuple(
                runner.apply_file(conn, f, dry_run=dry_run) for f in files if f.name in pending
            )
            # Re-check every recorded file (also the ones applied just now: a file that
            # altered a module table that was missing is completed once it exists again).
            recorded = set(already) | (set() if dry_run else pending)
            applied = [f for f in files if f.name in recorded]
            done = run_repair_hooks(conn, applied, dry_run=dry_run)
            trigger_report = triggers.ensure_triggers(conn, dry_run=dry_run)
            seal = None if dry_run else seal_ledger(conn, sealed_by="migrate")
    return MigrationReport(
        dry_run=dry_run,
        files=reports,
        already_applied=already,
        triggers=trigger_report,
        repairs=tuple(done),
        ledger_seal=seal,
    )


def run_repair_hooks(
    conn: Connection, applied: list[runner.UpgradeFile], *, dry_run: bool
) -> list[repairs.Repair]:
    """The migrate loop's hooks, in order: installed state of the applied files (a
    missing module table, column, index, service or module row), collations aligned
    with OpenEMR's columns, the mapping CHECK constraint. The triggers follow in
    :func:`migrate`. Each hook reads, decides and (unless ``dry_run``) applies; the
    repairs it returns are recorded in the report."""
    done: list[repairs.Repair] = []
    done += repairs.repair_schema(conn, applied, dry_run=dry_run)
    done += collations.align_collations(conn, dry_run=dry_run)
    done += repairs.ensure_quantity_check(conn, dry_run=dry_run)
    for repair in done:
        if repair.applied:
            log.debug("migrate: repaired %s: %s", repair.hook, repair.description)
    return done


def _service_row(conn: Connection) -> dict[str, object] | None:
    """The alert service's ``background_services`` row as ``status`` shows it."""
    row = BackgroundServiceRepository(conn).read()
    if row is None:
        return None
    return {
        "name": row.name,
        "active": int(row.active),
        "running": row.running,
        "next_run": None if row.next_run is None else str(row.next_run),
        "execute_interval": row.execute_interval,
    }


def status(engine: Engine, *, directory: Path | None = None) -> StatusReport:
    """Read-only view of the schema state of the module in this database."""
    files = runner.discover(directory)
    with autocommit(engine) as conn:
        require_openemr(conn)
        plans = runner.plan(conn, files)
        repo = InstallRepository(conn)
        version, db_version = repo.openemr_version()
        return StatusReport(
            files=tuple(plans),
            module_version=repo.module_version(),
            openemr_version=version,
            openemr_database_version=db_version,
            triggers=triggers.trigger_status(conn),
            service=_service_row(conn),
            set_aside=tuple(installed_set_aside_visits(conn)),
        )


def load_sample(engine: Engine, *, path: Path | None = None) -> runner.FileReport:
    """Load the sample data (idempotent) through the same parser and executor."""
    sample = path if path is not None else sql_dir() / SAMPLE_DATA_FILE
    if not sample.is_file():
        raise MigrationError("sample data file not found", filename=str(sample), line=0)
    parsed = parse_sql(sample.read_text(encoding="utf-8"), sample.name)
    with autocommit(engine) as conn:
        require_openemr(conn)
        require_migrated(conn)
        return runner.apply_parsed(conn, parsed)
