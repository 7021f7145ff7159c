"""The SQL ``doctor`` and ``uninstall`` send (reads of the module's own tables and of
OpenEMR's catalog, and uninstall's statements)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..alerts.background import CLAIMS_TABLE, SERVICE_NAME
from ..alerts.repositories.outbox import OUTBOX_TABLE
from ..db import MODULE_TABLE_PATTERN, execute_raw, existing_tables, table_exists
from .repository import MODULE_DIRECTORY

__all__ = ["CLAIMS_TABLE", "MODULE_DIRECTORY", "OUTBOX_TABLE", "SERVICE_NAME", "HealthRepository"]
# Module tables without the prefix (SPEC section 4 names it).
UNPREFIXED_TABLES: tuple[str, ...] = ("procedure_products",)


class HealthRepository:
    """Reads for ``doctor`` and the catalog reads and statements of ``uninstall``."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def has_table(self, table: str) -> bool:
        """Whether ``table`` exists (:func:`~aesthetic_inventory.db.table_exists`)."""
        return table_exists(self.conn, table)

    def queue_backlog(self, queue_table: str) -> tuple[int, int]:
        """(queued rows, age in seconds of the oldest)."""
        row = self.conn.execute(
            text(
                "SELECT COUNT(*), COALESCE(TIMESTAMPDIFF(SECOND, MIN(queued_at), NOW(6)), 0) "
                f"FROM `{queue_table}`"
            )
        ).one()
        return int(row[0]), int(row[1])

    def failing_outbox(self) -> list[tuple[str, int, str]]:
        """(channel, rows, last error) of undelivered rows with failed attempts."""
        rows = self.conn.execute(
            text(
                f"SELECT channel, COUNT(*), MAX(last_error) FROM {OUTBOX_TABLE} "
                "WHERE status <> 'delivered' AND attempts > 0 GROUP BY channel ORDER BY channel"
            )
        )
        return [(str(r[0]), int(r[1]), str(r[2])) for r in rows]

    def service_claim(self, timeout_minutes: int) -> tuple[bool, str, bool] | None:
        """(running, holder, stale) of the alert job's claim; None without its row.

        Stale: the claim record is older than the timeout, or without a record (OpenEMR's
        runner claimed it) ``next_run - execute_interval`` is.
        """
        row = self.conn.execute(
            text(
                "SELECT running, next_run - INTERVAL execute_interval MINUTE "
                "< NOW() - INTERVAL :m MINUTE FROM background_services WHERE name = :n"
            ),
            {"n": SERVICE_NAME, "m": timeout_minutes},
        ).first()
        if row is None:
            return None
        running, stale, holder = int(row[0] or 0) >= 1, bool(row[1]), "OpenEMR's runner"
        if running and self.has_table(CLAIMS_TABLE):
            claim = self.conn.execute(
                text(
                    f"SELECT claimed_by, claimed_at < NOW() - INTERVAL :m MINUTE "
                    f"FROM {CLAIMS_TABLE} WHERE name = :n"
                ),
                {"n": SERVICE_NAME, "m": timeout_minutes},
            ).first()
            if claim is not None:
                holder, stale = str(claim[0]), bool(claim[1])
        return running, holder, stale

    def invalid_date_lots(self, limit: int = 5) -> tuple[int, list[tuple[int, int, str, str]]]:
        """How many lots have a zero or invalid expiration date, and the first ``limit``
        of them as (inventory_id, drug_id, lot number, expiration text). Compared as
        text: date functions return NULL or warn on such dates."""
        where = (
            "FROM drug_inventory WHERE expiration IS NOT NULL AND "
            "(CAST(expiration AS CHAR) LIKE '0000-%' "
            "OR CAST(expiration AS CHAR) LIKE '%-00-%' "
            "OR CAST(expiration AS CHAR) LIKE '%-00')"
        )
        count = int(self.conn.execute(text("SELECT COUNT(*) " + where)).scalar() or 0)
        if not count:
            return 0, []
        rows = self.conn.execute(text(
            "SELECT inventory_id, drug_id, COALESCE(lot_number, ''), CAST(expiration AS CHAR) "
            + where + " ORDER BY inventory_id LIMIT :n"), {"n": limit})
        return count, [(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows]

    # --- uninstall (the statements are below the class) ----------------------------

    def module_tables(self) -> list[str]:
        """procedure_products and every aesthetic_inventory_* table present."""
        rows = self.conn.execute(
            text(
                "SELECT TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' "
                "AND TABLE_NAME LIKE :p ORDER BY TABLE_NAME"
            ),
            {"p": MODULE_TABLE_PATTERN},
        )
        names = [r[0] for r in rows]
        return sorted(existing_tables(self.conn, UNPREFIXED_TABLES)) + names

    def module_indexes_on(self, exclude: set[str]) -> list[tuple[str, str]]:
        """(table, index) of the module's indexes on tables not in ``exclude``."""
        rows = self.conn.execute(
            text(
                "SELECT DISTINCT TABLE_NAME, INDEX_NAME FROM information_schema.STATISTICS "
                "WHERE TABLE_SCHEMA = DATABASE() AND INDEX_NAME LIKE :p ORDER BY 1, 2"
            ),
            {"p": MODULE_TABLE_PATTERN},
        )
        return [(t, i) for t, i in rows if t not in exclude]

    def has_service_row(self) -> bool:
        return bool(
            self.conn.execute(
                text("SELECT COUNT(*) FROM background_services WHERE name = :n"),
                {"n": SERVICE_NAME},
            ).scalar()
        )

    def has_module_row(self) -> bool:
        return self.has_table("modules") and bool(
            self.conn.execute(
                text("SELECT COUNT(*) FROM modules WHERE mod_directory = :d"),
                {"d": MODULE_DIRECTORY},
            ).scalar()
        )

    def run_uninstall_statements(self, statements: list[str]) -> None:
        """Run the plan in order; module tables may reference each other, so foreign
        keys are not checked while they go."""
        execute_raw(self.conn, "SET SESSION foreign_key_checks = 0")
        try:
            for statement in statements:
                execute_raw(self.conn, statement)
        finally:
            execute_raw(self.conn, "SET SESSION foreign_key_checks = 1")


# --- uninstall's statements, run by run_uninstall_statements: each with the line that
# describes it (the lower-case statement, as the plan prints it) ----------------------


def drop_trigger(name: str) -> tuple[str, str]:
    return f"drop trigger {name}", f"DROP TRIGGER IF EXISTS `{name}`"


def drop_table(table: str) -> tuple[str, str]:
    return f"drop table {table}", f"DROP TABLE IF EXISTS `{table}`"


def drop_index(table: str, index: str) -> tuple[str, str]:
    return f"drop index {table}.{index}", f"DROP INDEX `{index}` ON `{table}`"


def delete_service_row() -> tuple[str, str]:
    return (f"delete background_services row {SERVICE_NAME}",
            f"DELETE FROM background_services WHERE name = '{SERVICE_NAME}'")


def delete_module_row() -> tuple[str, str]:
    return (f"delete modules row {MODULE_DIRECTORY}",
            f"DELETE FROM modules WHERE mod_directory = '{MODULE_DIRECTORY}'")
