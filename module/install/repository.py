"""The SQL ``migrate`` and ``status`` send besides the upgrade files: the migration
lock and the OpenEMR and module versions."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..db import table_exists

MODULE_DIRECTORY = "aesthetic_inventory"
_LOCK_PREFIX = "aesthetic_inventory_migrate:"


class InstallRepository:
    """Install-time reads and the migration lock, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock_name = ""

    def acquire_migration_lock(self, timeout_seconds: int) -> bool:
        """Serialise migrations of this database; False when another one holds it."""
        # named locks are server-wide: scope it to this database (64 characters at most)
        database = self.conn.execute(text("SELECT DATABASE()")).scalar()
        self._lock_name = (_LOCK_PREFIX + str(database))[:64]
        got = self.conn.execute(
            text("SELECT GET_LOCK(:n, :t)"), {"n": self._lock_name, "t": timeout_seconds}
        ).scalar()
        return got == 1

    def release_migration_lock(self) -> None:
        """Give the migration lock back."""
        self.conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": self._lock_name})

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
