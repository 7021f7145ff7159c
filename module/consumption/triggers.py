"""Triggers on ``billing`` that queue changed visits (stub until the consumption work lands)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class TriggerReport:
    """What ``migrate`` did about the billing triggers, and the mode that results."""

    installed: bool
    mode: str  # "triggers" or "sweep"
    message: str


def ensure_triggers(conn: Connection, *, dry_run: bool = False) -> TriggerReport:
    """Create the billing triggers if missing; report sweep mode when not allowed."""
    return TriggerReport(installed=False, mode="sweep", message="billing triggers not implemented yet")


def trigger_status(conn: Connection) -> TriggerReport:
    """Whether the billing triggers exist in the current database."""
    return TriggerReport(installed=False, mode="sweep", message="billing triggers not implemented yet")
