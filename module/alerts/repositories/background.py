"""The SQL of OpenEMR's ``background_services`` claim protocol for the alert job, plus
the stale-claim recovery OpenEMR lacks (the claim is recorded in
``aesthetic_inventory_service_claims``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

SERVICE_NAME = "AestheticInventoryAlerts"
CLAIMS_TABLE = "aesthetic_inventory_service_claims"


@dataclass(frozen=True)
class ServiceRow:
    """The ``background_services`` row as the database sees it now."""

    name: str
    active: bool
    running: int
    next_run: datetime
    execute_interval: int
    db_now: datetime

    @property
    def due(self) -> bool:
        """Claimable by OpenEMR's rules: active, interval set, not running, past next_run."""
        return (
            self.active
            and self.execute_interval > 0
            and self.running < 1
            and self.db_now > self.next_run
        )


class BackgroundServiceRepository:
    """SQL of the claim protocol on one connection."""

    def __init__(self, conn: Connection, name: str = SERVICE_NAME) -> None:
        self.conn = conn
        self.name = name

    def read(self) -> ServiceRow | None:
        row = self.conn.execute(
            text(
                "SELECT name, active, running, next_run, execute_interval, NOW() "
                "FROM background_services WHERE name = :name"
            ),
            {"name": self.name},
        ).first()
        if row is None:
            return None
        return ServiceRow(row[0], bool(row[1]), int(row[2]), row[3], int(row[4]), row[5])

    def claim(self, interval_minutes: int, owner: str) -> bool:
        """OpenEMR's own claim statement; only a changed row means we own the run."""
        changed = self.conn.execute(
            text(
                "UPDATE background_services SET running = 1, "
                "next_run = NOW() + INTERVAL :interval MINUTE "
                "WHERE running < 1 AND NOW() > next_run AND name = :name"
            ),
            {"interval": interval_minutes, "name": self.name},
        ).rowcount
        if changed != 1:
            return False
        self.conn.execute(
            text(
                f"INSERT INTO {CLAIMS_TABLE} (name, claimed_by, claimed_at) "
                "VALUES (:name, :owner, NOW()) ON DUPLICATE KEY UPDATE "
                "claimed_by = VALUES(claimed_by), claimed_at = VALUES(claimed_at)"
            ),
            {"name": self.name, "owner": owner},
        )
        return True

    def release(self, owner: str) -> bool:
        """Set ``running = 0`` if we hold the claim; forget the claim record."""
        held = self.conn.execute(
            text(f"DELETE FROM {CLAIMS_TABLE} WHERE name = :name AND claimed_by = :owner"),
            {"name": self.name, "owner": owner},
        ).rowcount
        if held:
            self.conn.execute(
                text("UPDATE background_services SET running = 0 WHERE name = :name"),
                {"name": self.name},
            )
        return bool(held)

    def hand_back_bridgeless_claim(self) -> bool:
        """Undo a claim OpenEMR's PHP runner took on a row it cannot run.

        Until the PHP bridge is installed the row's ``require_once`` is empty, so
        OpenEMR's runner claims the due row (pushing ``next_run`` by the interval),
        finds no function to call and leaves ``running = 1``. Such a claim never
        produces a run; making the row due again at once lets this service claim it
        with the same statement, so the job still runs once per interval. A claim
        with a record in the claims table is ours and is left alone.
        """
        changed = self.conn.execute(
            text(
                "UPDATE background_services SET running = 0, next_run = NOW() - INTERVAL 1 SECOND "
                "WHERE name = :name AND running >= 1 "
                "AND (require_once IS NULL OR require_once = '') "
                f"AND NOT EXISTS (SELECT 1 FROM {CLAIMS_TABLE} c WHERE c.name = :name)"
            ),
            {"name": self.name},
        ).rowcount
        return bool(changed)

    _REGISTER_BRIDGE = "UPDATE background_services SET require_once = {path} WHERE name = {name}"

    def register_bridge(self, require_once: str) -> bool:
        """Point the row at the installed PHP bridge (OpenEMR's runner then runs it)."""
        changed = self.conn.execute(
            text(self._REGISTER_BRIDGE.format(path=":path", name=":name")),
            {"path": require_once, "name": self.name},
        ).rowcount
        return bool(changed)

    @classmethod
    def register_bridge_statement(cls, require_once: str, name: str = SERVICE_NAME) -> str:
        """The statement :meth:`register_bridge` runs, with its values, for an operator
        to run by hand (no database configured). Both are fixed identifiers of the
        module (no user input), quoted as SQL string literals."""
        def quoted(value: str) -> str:
            return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"

        return cls._REGISTER_BRIDGE.format(path=quoted(require_once), name=quoted(name))

    def recover_stale(self, timeout_minutes: int) -> str | None:
        """Reset a claim older than the timeout (its process died).

        With a claim record, its ``claimed_at`` dates the claim. Without one (OpenEMR's
        PHP runner claimed it) the claim time is ``next_run - execute_interval``,
        because the claim statement set ``next_run = NOW() + interval``.
        Returns who held the stale claim, or None.
        """
        claim = self.conn.execute(
            text(
                f"SELECT c.claimed_by FROM {CLAIMS_TABLE} c "
                "JOIN background_services b ON b.name = c.name "
                "WHERE c.name = :name AND b.running >= 1 "
                "AND c.claimed_at < NOW() - INTERVAL :timeout MINUTE"
            ),
            {"name": self.name, "timeout": timeout_minutes},
        ).first()
        if claim is not None:
            self.conn.execute(
                text(f"DELETE FROM {CLAIMS_TABLE} WHERE name = :name"), {"name": self.name}
            )
            self.conn.execute(
                text("UPDATE background_services SET running = 0 WHERE name = :name"),
                {"name": self.name},
            )
            return str(claim[0])
        changed = self.conn.execute(
            text(
                "UPDATE background_services SET running = 0 WHERE name = :name "
                "AND running >= 1 AND NOT EXISTS "
                f"(SELECT 1 FROM {CLAIMS_TABLE} c WHERE c.name = :name) "
                "AND next_run - INTERVAL execute_interval MINUTE "
                "< NOW() - INTERVAL :timeout MINUTE"
            ),
            {"name": self.name, "timeout": timeout_minutes},
        ).rowcount
        return "OpenEMR runner" if changed else None
