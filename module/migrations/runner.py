"""The versioned-SQL runner: discover upgrade files, plan, apply, record.

Upgrade files are ``sql/NNN_NN_name.sql`` applied in name order. Each applied file
is recorded in ``aesthetic_inventory_schema_files`` with its SHA-256 checksum. MySQL
commits DDL implicitly, so a file cannot be applied atomically: a file that fails
midway is NOT recorded, and because every statement is guarded by a directive a
re-run after the fix skips what was done and finishes the job.

Condition values are always bound parameters; identifiers are validated by the
parser (``[A-Za-z0-9_$]``) and quoted with backticks.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import pymysql
from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..db import existing_tables
from ..errors import AestheticInventoryError, MigrationError
from ..resources import sql_dir
from .directives import Block, Condition, ParsedFile, Statement, parse_sql

RECORD_TABLE = "aesthetic_inventory_schema_files"
UPGRADE_FILE_RE = re.compile(r"^\d{3}_\d{2}_[A-Za-z0-9_]+\.sql$")

RECORD_TABLE_DDL = (
    f"CREATE TABLE IF NOT EXISTS `{RECORD_TABLE}` ("
    " `name` varchar(191) NOT NULL,"
    " `checksum` char(64) NOT NULL,"
    " `applied_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,"
    " PRIMARY KEY (`name`)"
    ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
)

PENDING = "pending"
APPLIED = "applied"
CHANGED = "changed"


@dataclass(frozen=True)
class UpgradeFile:
    """An upgrade file on disk: name, text and checksum."""

    name: str
    path: Path
    text: str
    checksum: str

    @classmethod
    def load(cls, path: Path) -> UpgradeFile:
        data = path.read_bytes()
        return cls(
            name=path.name,
            path=path,
            text=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )


@dataclass(frozen=True)
class FilePlan:
    """State of one upgrade file in one database."""

    name: str
    checksum: str
    state: str  # pending | applied | changed
    applied_at: str | None = None
    recorded_checksum: str | None = None


@dataclass(frozen=True)
class StepReport:
    """What one statement did (or would do): ``ran`` False means skipped."""

    line: int
    ran: bool
    message: str


@dataclass(frozen=True)
class FileReport:
    """The steps of one applied (or planned) file."""

    name: str
    steps: tuple[StepReport, ...]

    @property
    def executed(self) -> int:
        return sum(1 for s in self.steps if s.ran)


def discover(directory: Path | None = None) -> list[UpgradeFile]:
    """Upgrade files in name order (not the sample data, not ``fixtures/``)."""
    base = directory if directory is not None else sql_dir()
    return [
        UpgradeFile.load(p)
        for p in sorted(base.iterdir(), key=lambda p: p.name)
        if p.is_file() and UPGRADE_FILE_RE.match(p.name)
    ]


def record_table_exists(conn: Connection) -> bool:
    return bool(existing_tables(conn, [RECORD_TABLE]))


class SchemaNotMigratedError(AestheticInventoryError):
    """The module's schema is missing: run ``aesthetic-inventory migrate`` first."""


def require_migrated(conn: Connection) -> None:
    """Refuse when the 518 foundation is not in place (every package's preflight: it
    lives here, below the packages, so none of them imports the installer)."""
    needed = ["procedure_products", RECORD_TABLE]
    if len(existing_tables(conn, needed)) < len(needed):
        raise SchemaNotMigratedError(
            "the Aesthetic Inventory schema is not installed in this database: "
            "run 'aesthetic-inventory migrate' first"
        )


def applied_files(conn: Connection) -> dict[str, tuple[str, str]]:
    """name -> (checksum, applied_at) of the recorded files (empty if no record table)."""
    if not record_table_exists(conn):
        return {}
    rows = conn.execute(text(f"SELECT name, checksum, applied_at FROM `{RECORD_TABLE}`"))
    return {r[0]: (r[1], str(r[2])) for r in rows}


def plan(conn: Connection, files: list[UpgradeFile]) -> list[FilePlan]:
    """Compare files on disk with the record table."""
    recorded = applied_files(conn)
    result: list[FilePlan] = []
    for f in files:
        if f.name not in recorded:
            result.append(FilePlan(f.name, f.checksum, PENDING))
            continue
        checksum, applied_at = recorded[f.name]
        state = APPLIED if checksum == f.checksum else CHANGED
        result.append(FilePlan(f.name, f.checksum, state, applied_at, checksum))
    return result


# --- conditions ---------------------------------------------------------------------


def _table_exists(conn: Connection, table: str) -> bool:
    return bool(existing_tables(conn, [table]))


def _column_type(conn: Connection, table: str, column: str) -> str | None:
    return conn.execute(
        text(
            "SELECT COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_NAME = :t AND COLUMN_NAME = :c"
        ),
        {"t": table, "c": column},
    ).scalar()


def _index_exists(conn: Connection, table: str, index: str) -> bool:
    return (
        conn.execute(
            text(
                "SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                "AND TABLE_NAME = :t AND INDEX_NAME = :i LIMIT 1"
            ),
            {"t": table, "i": index},
        ).scalar()
        is not None
    )


def _row_exists(conn: Connection, cond: Condition) -> bool:
    if not _table_exists(conn, cond.table):
        return False
    criteria = cond.row_criteria()
    where = " AND ".join(f"`{col}` = :v{i}" for i, (col, _) in enumerate(criteria))
    params = {f"v{i}": value for i, (_, value) in enumerate(criteria)}
    sql = f"SELECT 1 FROM `{cond.table}` WHERE {where} LIMIT 1"
    return conn.execute(text(sql), params).scalar() is not None


def _normalise_type(value: str) -> str:
    """Compare column types case-insensitively and without integer display widths
    (MySQL 8 drops them, MariaDB keeps them)."""
    value = " ".join(value.lower().split())
    return re.sub(r"^((?:tiny|small|medium|big)?int)\(\d+\)", r"\1", value)


def evaluate(conn: Connection, cond: Condition) -> tuple[bool, str]:
    """Evaluate a condition: (run the block?, human reason)."""
    t = cond.table
    kind = cond.kind
    if kind in ("IfNotTable", "IfTable"):
        exists = _table_exists(conn, t)
        run = not exists if kind == "IfNotTable" else exists
        return run, f"table {t} {'exists' if exists else 'is missing'}"
    if kind in ("IfColumn", "IfMissingColumn"):
        col = cond.args[1]
        if not _table_exists(conn, t):
            return False, f"table {t} is missing"
        exists = _column_type(conn, t, col) is not None
        run = exists if kind == "IfColumn" else not exists
        return run, f"column {t}.{col} {'exists' if exists else 'is missing'}"
    if kind in ("IfNotIndex", "IfIndex"):
        idx = cond.args[1]
        exists = _index_exists(conn, t, idx)
        run = not exists if kind == "IfNotIndex" else exists
        return run, f"index {t}.{idx} {'exists' if exists else 'is missing'}"
    if kind in ("IfNotRow", "IfRow", "IfNotRow2D", "IfNotRow3D"):
        exists = _row_exists(conn, cond)
        run = exists if kind == "IfRow" else not exists
        what = ", ".join(f"{c}={v!r}" for c, v in cond.row_criteria())
        return run, f"row {t}({what}) {'exists' if exists else 'is missing'}"
    if kind == "IfNotColumnType":
        col, wanted = cond.args[1], cond.args[2]
        actual = _column_type(conn, t, col) if _table_exists(conn, t) else None
        if actual is None:
            return False, f"column {t}.{col} is missing"
        same = _normalise_type(actual) == _normalise_type(wanted)
        return not same, f"column {t}.{col} is {actual}"
    raise AssertionError(f"unhandled condition {kind}")  # the parser rejects unknown ones


# --- statements ---------------------------------------------------------------------

# (pattern, what it did, what it would do)
_DESCRIBE = [
    (
        r"^CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?`?(\w+)`?",
        "created table {0}",
        "create table {0}",
    ),
    (
        r"^ALTER\s+TABLE\s+`?(\w+)`?\s+ADD\s+(?:COLUMN\s+)?`?(\w+)`?",
        "altered table {0} (add {1})",
        "alter table {0} (add {1})",
    ),
    (r"^ALTER\s+TABLE\s+`?(\w+)`?", "altered table {0}", "alter table {0}"),
    (
        r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+`?(\w+)`?\s+ON\s+`?(\w+)`?",
        "created index {1}.{0}",
        "create index {1}.{0}",
    ),
    (
        r"^INSERT\s+(?:IGNORE\s+)?INTO\s+`?(\w+)`?",
        "inserted {n} row(s) into {0}",
        "insert into {0}",
    ),
    (r"^UPDATE\s+`?(\w+)`?", "updated {n} row(s) in {0}", "update {0}"),
    (r"^DELETE\s+FROM\s+`?(\w+)`?", "deleted {n} row(s) from {0}", "delete from {0}"),
    (
        r"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?`?(\w+)`?",
        "dropped table {0}",
        "drop table {0}",
    ),
]
_DESCRIBE_RE = [(re.compile(p, re.I), done, planned) for p, done, planned in _DESCRIBE]


def describe(sql: str, rowcount: int | None = None, *, planned: bool = False) -> str:
    """A short human description of a statement: what it did (with ``rowcount``)
    or, with ``planned``, what it would do."""
    body = sql.strip()
    for pattern, done, todo in _DESCRIBE_RE:
        m = pattern.match(body)
        if m:
            n = "?" if rowcount is None or rowcount < 0 else str(rowcount)
            return (todo if planned else done).format(*m.groups(), n=n)
    return " ".join(body.split()[:3])


def execute_statement(conn: Connection, filename: str, stmt: Statement) -> int:
    """Run one statement exactly as written; return its rowcount.

    The text goes to the server through the driver's cursor WITHOUT parameters, so
    ``%`` and ``:`` inside literals are not taken for placeholders (PyMySQL formats
    the query with ``%`` as soon as any parameter container is passed).
    """
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(stmt.sql)
        return int(cursor.rowcount)
    except pymysql.err.MySQLError as exc:
        args = exc.args
        code = args[0] if args and isinstance(args[0], int) else None
        detail = str(args[1]) if len(args) > 1 else str(exc)
        raise MigrationError(
            f"statement failed (MySQL error {code}): {detail}",
            filename=filename,
            line=stmt.line,
            statement=stmt.sql,
        ) from None
    finally:
        cursor.close()


def apply_parsed(conn: Connection, parsed: ParsedFile, *, dry_run: bool = False) -> FileReport:
    """Apply (or, in a dry run, only evaluate) the blocks of a parsed file.

    Conditions are evaluated once, when their block starts (as OpenEMR does), so a
    block may create a table and then fill it.
    """
    steps: list[StepReport] = []
    for block in parsed.blocks:
        steps.extend(_apply_block(conn, parsed.name, block, dry_run))
    return FileReport(parsed.name, tuple(steps))


def _apply_block(conn: Connection, filename: str, block: Block, dry_run: bool) -> list[StepReport]:
    steps: list[StepReport] = []
    run, reason = (True, "") if block.condition is None else evaluate(conn, block.condition)
    for stmt in block.statements:
        if not run:
            what = describe(stmt.sql, planned=True)
            steps.append(StepReport(stmt.line, False, f"skipped: {reason} ({what})"))
        elif dry_run:
            what = describe(stmt.sql, planned=True)
            steps.append(
                StepReport(
                    stmt.line, True, f"would run: {what}" + (f" ({reason})" if reason else "")
                )
            )
        else:
            rowcount = execute_statement(conn, filename, stmt)
            steps.append(StepReport(stmt.line, True, describe(stmt.sql, rowcount)))
    return steps


def ensure_record_table(conn: Connection) -> None:
    conn.exec_driver_sql(RECORD_TABLE_DDL)


def record_applied(conn: Connection, upgrade: UpgradeFile) -> None:
    conn.execute(
        text(f"INSERT INTO `{RECORD_TABLE}` (name, checksum, applied_at) VALUES (:n, :c, NOW())"),
        {"n": upgrade.name, "c": upgrade.checksum},
    )


def apply_file(conn: Connection, upgrade: UpgradeFile, *, dry_run: bool = False) -> FileReport:
    """Parse and apply one upgrade file, then record it (not in a dry run).

    ``conn`` should be in autocommit mode: DDL commits implicitly anyway, and each
    guarded statement then stands on its own, as with OpenEMR's upgrader.
    """
    parsed = parse_sql(upgrade.text, upgrade.name)
    report = apply_parsed(conn, parsed, dry_run=dry_run)
    if not dry_run:
        record_applied(conn, upgrade)
    return report
