"""Triggers on ``billing`` that queue changed visits for the consumption worker.

OpenEMR's PHP fee sheet writes ``billing`` rows directly; these triggers record the
visit in ``aesthetic_inventory_change_queue`` so the worker reconciles it within about
a second. Each body is a single statement (no BEGIN...END), so no delimiter tricks are
needed. Where the database user may not create triggers, the module runs in sweep mode
and says so instead of failing the migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..db import mysql_error_code, table_exists

QUEUE_TABLE = "aesthetic_inventory_change_queue"

# Errors that mean "not allowed to create triggers" (or binary-log restrictions):
# 1142 command denied, 1227 needs SUPER, 1419 log_bin_trust_function_creators,
# 1044 access denied to database, 1370 routine privilege, 1465 triggers on system tables.
PRIVILEGE_ERRORS = frozenset({1044, 1142, 1227, 1370, 1419, 1465})

# COALESCE keeps a NULL pid/encounter from failing OpenEMR's own insert under strict mode.
_INSERT = f"INSERT INTO {QUEUE_TABLE} (pid, encounter, queued_at) "
TRIGGERS: dict[str, str] = {
    "aesthetic_inventory_billing_ai": (
        "CREATE TRIGGER aesthetic_inventory_billing_ai AFTER INSERT ON billing FOR EACH ROW "
        + _INSERT
        + "VALUES (COALESCE(NEW.pid, 0), COALESCE(NEW.encounter, 0), NOW(6))"
    ),
    # Only changes that can alter the requirement queue the visit (checkout flips
    # billed/bill_process on every line and must not flood the queue); a line moved to
    # another visit queues both visits.
    "aesthetic_inventory_billing_au": (
        "CREATE TRIGGER aesthetic_inventory_billing_au AFTER UPDATE ON billing FOR EACH ROW "
        + _INSERT
        + "SELECT COALESCE(NEW.pid, 0), COALESCE(NEW.encounter, 0), NOW(6) FROM DUAL "
        "WHERE NOT (OLD.pid <=> NEW.pid AND OLD.encounter <=> NEW.encounter "
        "AND OLD.code_type <=> NEW.code_type AND OLD.code <=> NEW.code "
        "AND OLD.units <=> NEW.units AND OLD.activity <=> NEW.activity "
        "AND OLD.user <=> NEW.user) "
        "UNION ALL SELECT COALESCE(OLD.pid, 0), COALESCE(OLD.encounter, 0), NOW(6) FROM DUAL "
        "WHERE NOT (OLD.pid <=> NEW.pid AND OLD.encounter <=> NEW.encounter)"
    ),
    "aesthetic_inventory_billing_ad": (
        "CREATE TRIGGER aesthetic_inventory_billing_ad AFTER DELETE ON billing FOR EACH ROW "
        + _INSERT
        + "VALUES (COALESCE(OLD.pid, 0), COALESCE(OLD.encounter, 0), NOW(6))"
    ),
}

SWEEP_HINT = (
    "the service falls back to sweeping recent visits; run 'aesthetic-inventory sync' "
    "or grant the TRIGGER privilege and run migrate again"
)


@dataclass(frozen=True)
class TriggerReport:
    """What ``migrate`` did about the billing triggers, and the mode that results."""

    installed: bool
    mode: str  # "triggers" or "sweep"
    message: str
    created: tuple[str, ...] = ()


def _existing(conn: Connection) -> set[str]:
    rows = conn.execute(
        text(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'billing' "
            "AND TRIGGER_NAME LIKE 'aesthetic\\_inventory\\_%'"
        )
    )
    return {r[0] for r in rows}


def ensure_triggers(conn: Connection, *, dry_run: bool = False) -> TriggerReport:
    """Create the billing triggers if missing; report sweep mode when not allowed.

    Idempotent (existing triggers are kept). A dry run creates nothing and reports
    what it would create. Never raises for a missing privilege.
    """
    existing = _existing(conn)
    missing = [name for name in TRIGGERS if name not in existing]
    if not missing:
        return TriggerReport(True, "triggers", "billing triggers installed")
    if dry_run:
        return TriggerReport(
            False, "sweep", "would create billing triggers: " + ", ".join(missing)
        )
    if not table_exists(conn, QUEUE_TABLE):
        # A trigger writing to a missing table would break OpenEMR's own billing saves.
        return TriggerReport(
            False, "sweep", f"billing triggers not created: table {QUEUE_TABLE} is missing"
        )
    created: list[str] = []
    for name in missing:
        try:
            conn.execute(text(TRIGGERS[name]))
        except DBAPIError as exc:
            code = mysql_error_code(exc)
            if code not in PRIVILEGE_ERRORS:
                raise
            for done in created:  # all or none: a partial set would miss changes silently
                conn.execute(text(f"DROP TRIGGER IF EXISTS {done}"))
            return TriggerReport(
                False,
                "sweep",
                f"billing triggers could not be created (MySQL error {code}: the database "
                f"user lacks the TRIGGER privilege or binary logging forbids it); "
                + SWEEP_HINT,
            )
        created.append(name)
    return TriggerReport(True, "triggers", "billing triggers created", tuple(created))


def trigger_status(conn: Connection) -> TriggerReport:
    """Whether the billing triggers exist in the current database."""
    existing = _existing(conn)
    if all(name in existing for name in TRIGGERS):
        return TriggerReport(True, "triggers", "billing triggers installed")
    if existing:
        return TriggerReport(
            False, "sweep", "billing triggers incomplete (run migrate again); " + SWEEP_HINT
        )
    return TriggerReport(False, "sweep", "billing triggers not installed; " + SWEEP_HINT)
