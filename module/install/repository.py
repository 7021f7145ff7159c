"""The SQL ``migrate`` and ``status`` send besides the upgrade files: the migration
lock and the OpenEMR and module versions."""

from __future__ import annotations

import os
import socket
import time
import uuid

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..db import is_lock_conflict, table_exists

MODULE_DIRECTORY = "aesthetic_inventory"
_LOCKS_TABLE = "aesthetic_inventory_locks"
_MIGRATE_LOCK = "migrate"
_RECORD_TABLE = "aesthetic_inventory_schema_files"  # exists once migrate applied a file
_LEASE_MINUTES = 30
# The same table as sql/519_80_cluster.sql (whose #IfNotTable then skips it).
_LOCKS_DDL = (
    f"CREATE TABLE IF NOT EXISTS `{_LOCKS_TABLE}` ("
    "`name` varchar(64) NOT NULL COMMENT 'alert_scan, migrate, ...', "
    "`holder` varchar(255) NOT NULL DEFAULT '' COMMENT 'host:pid of the last holder', "
    "`acquired_at` datetime NULL DEFAULT NULL, "
    "`expires_at` datetime NULL DEFAULT NULL "
    "COMMENT 'leases only; NULL = held by a transaction', "
    "PRIMARY KEY (`name`)) ENGINE=InnoDB"
)


class InstallRepository:
    """Install-time reads and the migration lock, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._holder = ""

    def acquire_migration_lock(self, timeout_seconds: int, *, dry_run: bool = False) -> bool:
        """Serialise migrations of this database; False when another one holds it.

        A lease row in ``aesthetic_inventory_locks`` (not ``GET_LOCK``, which one
        Galera node cannot see on another): taken with one compare-and-set write in
        autocommit mode (migrate's DDL commits on its own anyway), so two nodes
        taking it at once conflict at certification and one of them retries. The
        lease outlives a crashed migrate by at most ``_LEASE_MINUTES``."""
        if not table_exists(self.conn, _LOCKS_TABLE):
            if dry_run and not table_exists(self.conn, _RECORD_TABLE):
                # Nothing installed and nothing will be written: no lock, and no table
                # left behind by a dry run.
                self._holder = ""
                return True
            # A first install needs the lock too: two runs checking the same guard at
            # once would both ALTER (duplicate column 1060). The table must exist
            # before the upgrade file that creates it has run (its #IfNotTable skips).
            self.conn.execute(text(_LOCKS_DDL))
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + timeout_seconds
        while True:
            try:
                self.conn.execute(
                    text(
                        f"INSERT INTO {_LOCKS_TABLE} (name, holder, acquired_at, expires_at) "
                        "VALUES (:n, :h, NOW(), NOW() + INTERVAL :m MINUTE) "
                        "ON DUPLICATE KEY UPDATE "
                        "acquired_at = IF(expires_at IS NULL OR expires_at < NOW(), "
                        "VALUES(acquired_at), acquired_at), "
                        "holder = IF(expires_at IS NULL OR expires_at < NOW(), "
                        "VALUES(holder), holder), "
                        "expires_at = IF(holder = VALUES(holder), VALUES(expires_at), expires_at)"
                    ),
                    {"n": _MIGRATE_LOCK, "h": self._holder, "m": _LEASE_MINUTES},
                )
                holder = self.conn.execute(
                    text(f"SELECT holder FROM {_LOCKS_TABLE} WHERE name = :n"),
                    {"n": _MIGRATE_LOCK},
                ).scalar()
            except DBAPIError as exc:
                if not is_lock_conflict(exc):
                    raise
                holder = None  # another node took it at the same instant
            if holder == self._holder:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    def release_migration_lock(self) -> None:
        """Give the migration lock back (only if this migrate still holds it; an
        uninstall has dropped the table with the lock in it)."""
        if not self._holder or not table_exists(self.conn, _LOCKS_TABLE):
            return
        self.conn.execute(
            text(
                f"UPDATE {_LOCKS_TABLE} SET holder = '', expires_at = NULL "
                "WHERE name = :n AND holder = :h"
            ),
            {"n": _MIGRATE_LOCK, "h": self._holder},
        )

    def openemr_version(self) -> tuple[str | None, int | None]:
        """OpenEMR's release (``7.0.2``...) and database version from ``version``."""
        row = self.conn.execute(
            text("SELECT v_major, v_minor, v_patch, v_tag, v_database FROM version LIMIT 1")
        ).first()
        if row is None:
            return None, None
        return f"{row[0]}.{row[1]}.{row[2]}{row[3] or ''}", int(row[4])

    def module_version(self) -> str | None:
        """The module's ``modules.sql_version`` (None before it is registered)."""
        if not table_exists(self.conn, "modules"):
            return None
        return self.conn.execute(
            text("SELECT sql_version FROM modules WHERE mod_directory = :d LIMIT 1"),
            {"d": MODULE_DIRECTORY},
        ).scalar()
