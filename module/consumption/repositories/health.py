"""Read-only health facts of the consumption engine, for ``status`` and ``doctor``: lots
with zero or invalid expiration dates, set-aside visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection


def count_invalid_expiration_lots(conn: Connection) -> int:
    """Lots whose expiration is a zero or invalid date ('0000-00-00', '2026-02-00'),
    which OpenEMR's lot form stores under an empty sql_mode. ``sellDrug`` (and the
    engine) compare it as text, so '0000-00-00' is always expired; ``doctor`` reports
    the count so the clinic can fix the dates."""
    return int(
        conn.execute(
            text(
                "SELECT COUNT(*) FROM drug_inventory WHERE expiration IS NOT NULL "
                "AND (MONTH(expiration) = 0 OR DAYOFMONTH(expiration) = 0 "
                "OR YEAR(expiration) = 0 OR DATE_ADD(expiration, INTERVAL 0 DAY) IS NULL)"
            )
        ).scalar()
        or 0
    )


@dataclass(frozen=True)
class SetAsideVisit:
    """A visit whose reconcile failed and waits for its next try."""

    pid: int
    encounter: int
    attempts: int
    last_error: str
    next_try_at: datetime | None
    first_queued_at: datetime | None


def set_aside_visits(conn: Connection, limit: int = 50) -> list[SetAsideVisit]:
    """Set-aside visits (failed at least once), the most tried first (``status`` and
    ``doctor`` list them)."""
    rows = conn.execute(
        text(
            # set_aside writes one error on all of a visit's rows (newer rows have none)
            "SELECT pid, encounter, MAX(attempts), MAX(last_error), MAX(next_try_at), "
            "MIN(queued_at) "
            "FROM aesthetic_inventory_change_queue WHERE attempts > 0 "
            "GROUP BY pid, encounter ORDER BY MAX(attempts) DESC, MIN(id) LIMIT :n"
        ),
        {"n": limit},
    )
    return [
        SetAsideVisit(int(r[0]), int(r[1]), int(r[2]), str(r[3] or ""), r[4], r[5])
        for r in rows
    ]


def count_set_aside_visits(conn: Connection) -> int:
    """How many visits are set aside (failed reconciles waiting for a retry)."""
    return int(
        conn.execute(
            text(
                "SELECT COUNT(DISTINCT pid, encounter) FROM aesthetic_inventory_change_queue "
                "WHERE attempts > 0"
            )
        ).scalar()
        or 0
    )


def installed_set_aside_visits(conn: Connection, limit: int = 50) -> list[SetAsideVisit]:
    """:func:`set_aside_visits`, or nothing before ``519_01_queue.sql`` is applied."""
    has_column = conn.execute(
        text(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = 'aesthetic_inventory_change_queue' AND COLUMN_NAME = 'attempts'"
        )
    ).scalar()
    return set_aside_visits(conn, limit) if has_column else []
