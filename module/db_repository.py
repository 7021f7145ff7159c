"""The SQL of the database layer: the statement every connection runs when it opens,
the catalog reads every package shares (which tables exist, which are not InnoDB, the
current database), and the server-level statements of scratch databases and of the
private test server. Nothing here decides; :mod:`.db`, :mod:`.scratch` and
:mod:`.private_server` do."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

MODULE_TABLE_PATTERN = "aesthetic\\_inventory\\_%"

# Every connection of the module sets this session variable (on connect, together with
# the collation alignment below), so triggers on OpenEMR tables can tell the module's
# own writes from OpenEMR's (module/usage/triggers.py, module/stock/triggers.py).
WRITER_INIT_COMMAND = "SET @aesthetic_inventory_writer = 1"

# Literals and CAST(... AS CHAR) take the connection's collation with IMPLICIT
# derivation; compared with a column of another collation of the same charset (a site
# created with utf8mb4_unicode_ci or a language collation) that is error 1267. The
# module's tables use the database default, so the connection follows it whenever the
# charsets agree (other charsets convert on their own).
# The same statement marks the session as the module's (WRITER_INIT_COMMAND).
ALIGN_COLLATION = (
    "SET @aesthetic_inventory_writer = 1, "
    "collation_connection = IF(@@character_set_database = @@character_set_connection, "
    "@@collation_database, @@collation_connection)"
)


def on_connect(dbapi_connection: Any) -> None:
    """Run :data:`ALIGN_COLLATION` on a new driver connection."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(ALIGN_COLLATION)
    finally:
        cursor.close()


def current_database(conn: Connection) -> str | None:
    """The database the connection uses (None when the URL names none)."""
    name = conn.execute(text("SELECT DATABASE()")).scalar()
    return None if name is None else str(name)


def existing_tables(conn: Connection, names: Iterable[str]) -> set[str]:
    """Which of ``names`` exist as tables in the current database."""
    wanted = list(names)
    rows = conn.execute(
        text(
            "SELECT TABLE_NAME FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :names"
        ).bindparams(bindparam("names", expanding=True)),
        {"names": wanted},
    )
    return {row[0] for row in rows}


def table_engines(conn: Connection, tables: Iterable[str]) -> list[tuple[str, str]]:
    """(table, engine) of the listed base tables and of every module table (views and
    missing tables are not listed), by name."""
    rows = conn.execute(
        text(
            "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' "
            "AND (TABLE_NAME IN :names OR TABLE_NAME LIKE :module) ORDER BY TABLE_NAME"
        ).bindparams(bindparam("names", expanding=True)),
        {"names": list(tables), "module": MODULE_TABLE_PATTERN},
    )
    return [(str(name), str(engine)) for name, engine in rows]


def engine_fix(table: str) -> str:
    """The statement that converts ``table`` to InnoDB (shown to the admin)."""
    return f"ALTER TABLE `{table}` ENGINE=InnoDB"


# --- server level: scratch databases and the private server -------------------------


def create_database(conn: Connection, name: str, charset: str, collation: str | None) -> None:
    """``CREATE DATABASE`` on a connection to the server (no database selected)."""
    collate = f" COLLATE {collation}" if collation else ""
    conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET {charset}{collate}")


def drop_database(conn: Connection, name: str | None) -> None:
    """``DROP DATABASE IF EXISTS`` on a connection to the server."""
    conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")


def allow_tcp_root(cursor: Any) -> None:
    """Give root the loopback address too, on a DBAPI cursor of the private server."""
    cursor.execute("CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''")
    cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION")
