"""Helpers of the install tests: raw SQL as another client (OpenEMR's PHP) sends it,
and the CLI."""

from __future__ import annotations

import pymysql
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from sqlalchemy.engine import make_url


def php_client(url: str, **kwargs: object) -> pymysql.Connection:
    """A plain autocommit connection, as OpenEMR's PHP (ADOdb/mysqli) writes billing."""
    parsed = make_url(url)
    return pymysql.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 3306,
        user=parsed.username or "root",
        password=parsed.password or "",
        database=parsed.database,
        autocommit=True,
        charset="utf8mb4",
        **kwargs,  # type: ignore[arg-type]
    )


def sql(url: str, *statements: str) -> list[tuple]:
    """Run statements on a fresh connection; returns the rows of the last one."""
    conn = php_client(url)
    try:
        rows: list[tuple] = []
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
                rows = list(cur.fetchall())
        return rows
    finally:
        conn.close()


def scalar(url: str, statement: str) -> object:
    rows = sql(url, statement)
    return rows[0][0] if rows else None


BILLING_INSERT = (
    "INSERT INTO billing (date, code_type, code, pid, encounter, units, activity, fee) "
    "VALUES (NOW(), 'CPT4', '15828', 1, 100, 2, 1, 0)"
)


def billing_write(url: str) -> int:
    """Insert, update and delete one billing line as OpenEMR's fee sheet does;
    returns the queue length afterwards (0 when the queue is gone)."""
    conn = php_client(url)
    try:
        with conn.cursor() as cur:
            cur.execute(BILLING_INSERT)
            line = cur.lastrowid
            cur.execute(f"UPDATE billing SET units = 3 WHERE id = {line}")
            cur.execute(f"DELETE FROM billing WHERE id = {line}")
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = 'aesthetic_inventory_change_queue'"
            )
            if not cur.fetchone()[0]:
                return 0
            cur.execute("SELECT COUNT(*) FROM aesthetic_inventory_change_queue")
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        main, list(args), env={"AESTHETIC_INVENTORY_DATABASE_URL": None}
    )
    return result.exit_code, result.stdout, result.stderr
