"""``doctor``: one read-only check of everything the module needs, each problem with
its fix.

Every check returns ``ok``, ``warn`` (worth knowing, nothing is going wrong: the
module handles it) or ``fail`` (something is not working or will not work: the
fix says what to do). The install checks reuse the repair hooks of ``migrate`` in
dry-run mode, so ``doctor`` reports exactly what ``migrate`` would repair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Connection, Engine

from ..consumption.repositories.health import installed_set_aside_visits
from ..db import connect, non_innodb_tables, require_openemr
from ..db_repository import engine_fix
from ..migrations import runner
from ..stock.repository import lot_drift
from . import cluster, collations, repairs, triggers
from .billing_triggers import QUEUE_TABLE
from .checks import FAIL, OK, WARN, Check
from .health_repository import OUTBOX_TABLE, SERVICE_NAME, HealthRepository
from .integrity_checks import check_backup, check_ledger_seal
from .mapping_repository import MappingHealthRepository
from .mappings import MAPPING_TABLE

MIGRATE = "run 'aesthetic-inventory migrate'"


@dataclass(frozen=True)
class DoctorReport:
    """All checks; healthy when none failed."""

    checks: tuple[Check, ...] = field(default_factory=tuple)

    @property
    def healthy(self) -> bool:
        return all(c.status != FAIL for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    @property
    def warned(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == WARN)

    def summary_line(self) -> str:
        """One line for ``status``."""
        n = len(self.checks)
        warn = f", {len(self.warned)} warning(s)" if self.warned else ""
        if self.healthy:
            return f"health: ok ({n} checks passed{warn})"
        names = ", ".join(c.name for c in self.failed)
        return (
            f"health: {len(self.failed)} problem(s) ({names}){warn}; "
            "run 'aesthetic-inventory doctor'"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "healthy": self.healthy,
            "summary": self.summary_line(),
            "checks": [c.as_dict() for c in self.checks],
        }


def _ok(name: str, summary: str) -> Check:
    return Check(name, OK, summary)


def check_files(conn: Connection, files: list[runner.UpgradeFile]) -> Check:
    plans = runner.plan(conn, files)
    pending = [p.name for p in plans if p.state == runner.PENDING]
    changed = [p.name for p in plans if p.state == runner.CHANGED]
    if changed:
        return Check(
            "upgrade files",
            FAIL,
            f"{len(changed)} applied file(s) changed since they were applied",
            tuple(changed),
            "restore the original file(s) and put changes in a new upgrade file",
        )
    if pending:
        return Check(
            "upgrade files",
            FAIL,
            f"{len(pending)} upgrade file(s) not applied",
            tuple(pending),
            MIGRATE,
        )
    return _ok("upgrade files", f"all {len(plans)} applied")


def check_schema(conn: Connection, files: list[runner.UpgradeFile]) -> Check:
    recorded = set(runner.applied_files(conn))
    found = repairs.repair_schema(conn, [f for f in files if f.name in recorded], dry_run=True)
    if found:
        return Check(
            "module tables",
            FAIL,
            f"{len(found)} installed object(s) missing",
            tuple(r.description for r in found),
            MIGRATE + " (it re-creates what is missing)",
        )
    return _ok("module tables", "tables, columns, indexes, service and module rows present")


def check_triggers(conn: Connection) -> Check:
    checks = triggers.check_triggers(conn)
    bad = [c for c in checks if c.needs_install]
    unverifiable = [
        c for c in checks if c.state in (triggers.UNVERIFIABLE, triggers.NOT_VISIBLE)
    ]
    if bad:
        missing_definer = any(c.state == triggers.DEFINER_MISSING for c in bad)
        lacking = any(c.state == triggers.DEFINER_UNPRIVILEGED for c in bad)
        fix = MIGRATE + " as an account with the TRIGGER privilege (the triggers then run as it)"
        if lacking:
            fix += f", or GRANT INSERT ON {QUEUE_TABLE} to the definer"
        if missing_definer:
            fix = "urgent: OpenEMR's fee-sheet saves fail until then; " + fix
        return Check(
            "triggers",
            FAIL,
            f"{len(bad)} of {len(checks)} trigger(s) need repair",
            tuple(c.detail for c in bad),
            fix,
        )
    if unverifiable:
        return Check(
            "triggers",
            WARN,
            "this account cannot verify every trigger",
            tuple(c.detail for c in unverifiable),
            "run doctor as the migrating account (TRIGGER privilege, may read mysql.user)",
        )
    definers = sorted({c.definer for c in checks if c.definer})
    return _ok(
        "triggers",
        f"{len(checks)} trigger(s) current, definer {', '.join(definers)} "
        "exists and may INSERT",
    )


def check_collations(conn: Connection) -> Check:
    found = collations.mismatches(conn)
    if found:
        return Check(
            "collations",
            FAIL,
            f"{len(found)} module column(s) do not match OpenEMR's collation",
            tuple(m.describe() for m in found),
            MIGRATE + " (it aligns them)",
        )
    return _ok("collations", "module columns match the OpenEMR columns they are compared with")


def check_innodb(conn: Connection) -> Check:
    bad = non_innodb_tables(conn)
    if bad:
        return Check(
            "InnoDB",
            FAIL,
            f"{len(bad)} table(s) we lock or rely on are not InnoDB",
            tuple(f"{t} is {e}" for t, e in bad),
            "; ".join(engine_fix(t) for t, _ in bad),
        )
    return _ok("InnoDB", "every table we lock or rely on is InnoDB")


def check_mappings(conn: Connection) -> Check:
    repo = MappingHealthRepository(conn)
    invalid = repo.invalid_mappings()
    if invalid:
        return Check(
            "mappings",
            FAIL,
            f"{len(invalid)} mapping(s) cannot be used",
            tuple(m.describe() for m in invalid),
            "fix the quantity (> 0) or the product of each mapping in procedure_products, "
            "or delete it",
        )
    if HealthRepository(conn).has_table(MAPPING_TABLE):
        planned = repairs.ensure_quantity_check(conn, dry_run=True)
        if planned:
            return Check(
                "mappings",
                WARN,
                "mappings valid; CHECK (quantity > 0) constraint missing",
                tuple(r.description for r in planned),
                MIGRATE,
            )
    return _ok("mappings", "every mapping has quantity > 0 and an active product")


def check_queue(conn: Connection, backlog_minutes: int) -> Check:
    repo = HealthRepository(conn)
    if not repo.has_table(QUEUE_TABLE):
        return Check("queue", WARN, f"{QUEUE_TABLE} missing (see module tables)")
    count, age = repo.queue_backlog(QUEUE_TABLE)
    problems: list[str] = []
    status = OK
    fix = ""
    # Set-aside visits (the engine's backoff columns, when that upgrade is installed).
    for visit in installed_set_aside_visits(conn, limit=20):
        problems.append(
            f"visit pid {visit.pid} encounter {visit.encounter} set aside after "
            f"{visit.attempts} attempt(s): {visit.last_error}"
        )
    if problems:
        status = FAIL
        fix = "fix the cause named for each visit, then run 'aesthetic-inventory sync'"
    if count and age > backlog_minutes * 60:
        status = FAIL
        problems.insert(0, f"{count} queued change(s), the oldest {age // 60} minute(s) old")
        fix = fix or "start 'aesthetic-inventory service' or run 'aesthetic-inventory sync'"
    summary = f"{count} queued change(s)" + (f", oldest {age} s" if count else "")
    return Check("queue", status, summary, tuple(problems), fix)


def check_outbox(conn: Connection) -> Check:
    repo = HealthRepository(conn)
    if not repo.has_table(OUTBOX_TABLE):
        return Check("outbox", WARN, f"{OUTBOX_TABLE} missing (see module tables)")
    rows = repo.failing_outbox()
    if rows:
        return Check(
            "outbox",
            FAIL,
            f"{sum(n for _, n, _ in rows)} notification(s) failing",
            tuple(f"{channel}: {n} row(s), last error: {error}" for channel, n, error in rows),
            "check the channel settings (SMTP host, webhook URL); failed rows are retried "
            "with backoff",
        )
    return _ok("outbox", "no failing notifications")


def check_service_claim(conn: Connection, timeout_minutes: int) -> Check:
    claim = HealthRepository(conn).service_claim(timeout_minutes)
    if claim is None:
        return Check("service claim", WARN, f"no {SERVICE_NAME} row (see module tables)")
    running, holder, stale = claim
    if not running:
        return _ok("service claim", "no claim held")
    if stale:
        return Check(
            "service claim",
            FAIL,
            f"the alert job has been claimed by {holder} for over {timeout_minutes} min",
            (f"{SERVICE_NAME} running=1, claimed by {holder}",),
            "the running service resets a stale claim by itself; without one, "
            f"UPDATE background_services SET running = 0 WHERE name = '{SERVICE_NAME}'",
        )
    return _ok("service claim", f"claimed by {holder} (a run is in progress)")


# How many lots a warning names; the summary gives the total.
NAMED_LOTS = 5


def _named(count: int, shown: int) -> str:
    return f" (the first {shown} of {count})" if count > shown else ""


def check_lot_dates(conn: Connection) -> Check:
    count, lots = HealthRepository(conn).invalid_date_lots(limit=NAMED_LOTS)
    if count:
        return Check(
            "lot dates",
            WARN,
            f"{count} lot(s) with a zero or invalid expiration date, treated as expired as "
            f"OpenEMR's sellDrug does{_named(count, len(lots))}",
            tuple(f"lot {i} (product {d}, lot number {n!r}): expiration {e}"
                  for i, d, n, e in lots),
            "set a real expiration date (or none) on those lots in OpenEMR's inventory screen",
        )
    return _ok("lot dates", "no lot has a zero or invalid expiration date")


def check_lot_drift(conn: Connection, limit: int = 100_000) -> Check:
    """Lots whose on_hand no longer matches their drug_sales rows (stock package)."""
    drifted = lot_drift(conn, limit=limit)
    if not drifted:
        return _ok("lot ledger", "every lot received through drug_sales rows balances")
    shown = drifted[:NAMED_LOTS]
    return Check(
        "lot ledger",
        WARN,
        f"{len(drifted)} lot(s) whose on_hand differs from their drug_sales "
        f"rows{_named(len(drifted), len(shown))}",
        tuple(f"lot {d.inventory_id} (product {d.drug_id}, lot number {d.lot_number!r}): "
              f"on_hand {d.on_hand}, rows say {d.expected_on_hand}, drift {d.drift:+d}"
              for d in shown),
        "count the lot; set on_hand back to what its rows say (undo the manual edit), then "
        "record the real difference with 'aesthetic-inventory adjust'",
    )


def diagnose(conn: Connection, files: list[runner.UpgradeFile], *,
             claim_timeout_minutes: int = 60, backlog_minutes: int = 10) -> DoctorReport:
    """Run every check on one connection (read-only)."""
    if not runner.record_table_exists(conn):
        first = Check(
            "upgrade files", FAIL, "the module is not installed in this database", (), MIGRATE
        )
        return DoctorReport((first, check_innodb(conn), check_lot_dates(conn)))
    checks = (
        check_files(conn, files),
        check_schema(conn, files),
        check_triggers(conn),
        check_collations(conn),
        check_innodb(conn),
        check_mappings(conn),
        check_queue(conn, backlog_minutes),
        check_outbox(conn),
        check_service_claim(conn, claim_timeout_minutes),
        check_lot_dates(conn),
        check_lot_drift(conn),
        check_backup(conn),
        check_ledger_seal(conn),
        *cluster.cluster_checks(conn, Check),  # only on Galera / Group Replication
    )
    return DoctorReport(checks)


def run_doctor(
    engine: Engine,
    *,
    claim_timeout_minutes: int = 60,
    backlog_minutes: int = 10,
    directory: Path | None = None,
) -> DoctorReport:
    """Check everything (writes nothing); refuses a database that is not OpenEMR."""
    files = runner.discover(directory)
    with connect(engine) as conn:
        require_openemr(conn)
        try:
            return diagnose(
                conn,
                files,
                claim_timeout_minutes=claim_timeout_minutes,
                backlog_minutes=backlog_minutes,
            )
        finally:
            conn.rollback()
