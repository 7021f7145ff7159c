"""The server-catalog SQL of the installer: triggers, accounts and grants, column
charsets, the server version, and the DDL the repair hooks run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..db import execute_raw, mysql_error_code


@dataclass(frozen=True)
class InstalledTrigger:
    """One module trigger as ``information_schema.TRIGGERS`` shows it (statement and
    definer are empty when the account may not read them)."""

    name: str
    table: str
    event: str  # e.g. "AFTER INSERT"
    statement: str
    definer: str


@dataclass(frozen=True)
class ColumnInfo:
    """What information_schema says about one column."""

    table: str
    column: str
    column_type: str
    charset: str | None
    collation: str | None
    nullable: bool
    default: str | None
    comment: str


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _default_clause(col: ColumnInfo, mariadb: bool) -> str:
    if col.default is None:
        return ""
    if col.default == "NULL" and col.nullable:
        return " DEFAULT NULL"
    # MariaDB (10.2.7+) reports defaults as SQL literals; MySQL reports the raw value.
    return f" DEFAULT {col.default if mariadb else _quote(col.default)}"


def column_definition(col: ColumnInfo, charset: str, collation: str, mariadb: bool) -> str:
    """``MODIFY`` clause keeping type, nullability, default and comment."""
    clause = (
        f"MODIFY `{col.column}` {col.column_type} CHARACTER SET {charset} COLLATE {collation}"
        f"{'' if col.nullable else ' NOT NULL'}{_default_clause(col, mariadb)}"
    )
    if col.comment:
        clause += f" COMMENT {_quote(col.comment)}"
    return clause


def split_account(account: str) -> tuple[str, str]:
    """``user@host`` -> (user, host)."""
    user, _, host = account.rpartition("@")
    return user, host


class CatalogRepository:
    """Catalog reads and installer DDL on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def server_version(self) -> str:
        return str(self.conn.execute(text("SELECT VERSION()")).scalar())

    def is_mariadb(self) -> bool:
        return "mariadb" in self.server_version().lower()

    def current_user(self) -> str:
        return str(self.conn.execute(text("SELECT CURRENT_USER()")).scalar())

    def module_triggers(self) -> dict[str, InstalledTrigger]:
        """The module's triggers in the current database, by name (the server lists
        only triggers of tables the account holds TRIGGER on)."""
        rows = self.conn.execute(
            text(
                "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, "
                "ACTION_STATEMENT, DEFINER FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() "
                "AND TRIGGER_NAME LIKE 'aesthetic\\_inventory\\_%'"
            )
        )
        return {
            r[0]: InstalledTrigger(r[0], r[1], f"{r[2]} {r[3]}".upper(), r[4] or "", r[5] or "")
            for r in rows
        }

    def account_exists(self, account: str) -> bool | None:
        """Whether ``user@host`` exists; None when this account may not read
        ``mysql.user``."""
        if account == self.current_user():
            return True
        user, host = split_account(account)
        try:
            found = self.conn.execute(
                text("SELECT COUNT(*) FROM mysql.user WHERE User = :u AND Host = :h"),
                {"u": user, "h": host},
            ).scalar()
        except DBAPIError as exc:
            if mysql_error_code(exc) in (1142, 1044, 1045, 1146):
                return None
            raise
        return bool(found)

    def has_privilege(self, account: str, privilege: str, table: str) -> bool:
        """Whether ``account`` holds ``privilege`` on ``table`` of this database (global,
        database or table grant; roles are not followed)."""
        user, host = split_account(account)
        found = self.conn.execute(
            text(
                "SELECT 1 FROM information_schema.USER_PRIVILEGES "
                "WHERE GRANTEE = :g AND PRIVILEGE_TYPE = :p "
                "UNION ALL SELECT 1 FROM information_schema.SCHEMA_PRIVILEGES "
                "WHERE GRANTEE = :g AND PRIVILEGE_TYPE = :p AND DATABASE() LIKE TABLE_SCHEMA "
                "UNION ALL SELECT 1 FROM information_schema.TABLE_PRIVILEGES "
                "WHERE GRANTEE = :g AND PRIVILEGE_TYPE = :p AND TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = :t LIMIT 1"
            ),
            {"g": f"'{user}'@'{host}'", "p": privilege, "t": table},
        ).first()
        return found is not None

    def columns(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], ColumnInfo]:
        """The listed (table, column) pairs that exist."""
        if not pairs:
            return {}
        rows = self.conn.execute(
            text(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, CHARACTER_SET_NAME, "
                "COLLATION_NAME, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT "
                "FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME IN :tables"
            ).bindparams(bindparam("tables", expanding=True)),
            {"tables": sorted({t for t, _ in pairs})},
        )
        found: dict[tuple[str, str], ColumnInfo] = {}
        for r in rows:
            if (r[0], r[1]) in pairs:
                found[(r[0], r[1])] = ColumnInfo(
                    r[0], r[1], r[2], r[3], r[4], r[5] == "YES", r[6], r[7] or ""
                )
        return found

    def modify_columns(
        self, table: str, targets: list[tuple[ColumnInfo, str, str]], *, mariadb: bool
    ) -> None:
        """One ``ALTER TABLE`` giving each (column, charset, collation) its charset and
        collation, keeping the rest of its definition."""
        clauses = [column_definition(col, cs, coll, mariadb) for col, cs, coll in targets]
        execute_raw(self.conn, f"ALTER TABLE `{table}` " + ", ".join(clauses))

    def execute_ddl(self, sql: str) -> None:
        """Run installer DDL exactly as written (``%`` in a trigger body is kept)."""
        execute_raw(self.conn, sql)

    def trigger_statements(self) -> dict[str, str]:
        """Every trigger of the current database (OpenEMR's, the module's, anyone's) with
        its statement, by name (empty when the account may not read it)."""
        rows = self.conn.execute(
            text(
                "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() ORDER BY TRIGGER_NAME"
            )
        )
        return {str(r[0]): str(r[1] or "") for r in rows}
