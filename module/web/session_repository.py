"""Every SQL statement of the server-side web sessions and the launch-token nonces."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

SESSIONS = "aesthetic_inventory_web_sessions"
NONCES = "aesthetic_inventory_web_launch_nonces"
# Expired rows are removed a few at a time on sign-in, so the tables never grow
# without bound and no sign-in ever pays for a large delete.
_PURGE_BATCH = 50


@dataclass(frozen=True)
class SessionRow:
    """A live session or token: whose it is, its CSRF token, whether the user is active."""

    username: str
    csrf: str
    user_active: bool


class SessionRepository:
    """``aesthetic_inventory_web_sessions`` and ``..._launch_nonces`` on one connection."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def insert(self, id_hash: str, kind: str, username: str, csrf: str, seconds: int) -> None:
        """Store a new session (the database clock dates it)."""
        self.connection.execute(
            text(f"INSERT INTO {SESSIONS} (id_hash, kind, username, csrf, created_at, "
                 "expires_at) VALUES (:h, :k, :u, :c, NOW(), NOW() + INTERVAL :s SECOND)"),
            {"h": id_hash, "k": kind, "u": username, "c": csrf, "s": seconds},
        )

    def live(self, id_hash: str, kind: str) -> SessionRow | None:
        """The unexpired, unrevoked session with this hash and whether its OpenEMR user is
        still active, in one statement (it runs on every request)."""
        row = self.connection.execute(
            text(f"SELECT s.username, s.csrf, COALESCE((SELECT MAX(u.active) FROM users u "
                 "WHERE u.username = s.username AND BINARY u.username = s.username), 0) "
                 f"FROM {SESSIONS} s WHERE s.id_hash = :h AND s.kind = :k "
                 "AND s.revoked_at IS NULL AND s.expires_at > NOW()"),
            {"h": id_hash, "k": kind},
        ).first()
        if row is None:
            return None
        return SessionRow(str(row[0]), str(row[1]), bool(row[2]))

    def revoke(self, id_hash: str) -> int:
        """End one session; the number of sessions ended (0 or 1)."""
        return int(self.connection.execute(
            text(f"UPDATE {SESSIONS} SET revoked_at = NOW() "
                 "WHERE id_hash = :h AND revoked_at IS NULL"), {"h": id_hash},
        ).rowcount)

    def revoke_user(self, username: str) -> int:
        """End every live session and token of ``username``; how many were ended."""
        return int(self.connection.execute(
            text(f"UPDATE {SESSIONS} SET revoked_at = NOW() WHERE BINARY username = :u "
                 "AND revoked_at IS NULL AND expires_at > NOW()"), {"u": username},
        ).rowcount)

    def use_nonce(self, nonce: str, username: str, seconds: int) -> bool:
        """Record a launch token's nonce; False when it was used before."""
        inserted = self.connection.execute(
            text(f"INSERT IGNORE INTO {NONCES} (nonce, username, used_at, expires_at) "
                 "VALUES (:n, :u, NOW(), NOW() + INTERVAL :s SECOND)"),
            {"n": nonce, "u": username, "s": seconds},
        ).rowcount
        return inserted == 1

    def purge_expired(self) -> None:
        """Delete a few rows that expired over a day ago (kept a day for the log)."""
        for table in (SESSIONS, NONCES):
            self.connection.execute(
                text(f"DELETE FROM {table} WHERE expires_at < NOW() - INTERVAL 1 DAY "
                     f"LIMIT {_PURGE_BATCH}"))
