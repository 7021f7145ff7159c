"""Test helpers for real databases: create/drop, load SQL, count statements.

Imported by tests as ``import dbtools`` (pytest puts ``tests/`` on sys.path because
``tests/conftest.py`` lives there).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
from aesthetic_inventory import scratch
from aesthetic_inventory.bootstrap import App, build_app
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.unit_of_work import UnitOfWork, UnitOfWorkFactory
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
OPENEMR_SCHEMA = Path(
    os.environ.get(
        "AESTHETIC_INVENTORY_OPENEMR_SCHEMA",
        REPO_DIR.parent / "shared" / "openemr" / "database.sql",
    )
)


def count_rows(url: str, sql: str) -> int:
    """The integer a ``SELECT COUNT(*) ...`` returns on the database of ``url``."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def make_app(url: str, **env: str) -> App:
    """The composition root on ``url`` with settings given as keyword arguments
    (``channels="crm,email"``...) instead of the environment."""
    environ = {f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in env.items()}
    return build_app(database_url=url, environ=environ)


@dataclass
class ServerInfo:
    """Connection facts of the test server (root URL without a database)."""

    url: str
    created: list[str] = field(default_factory=list)

    def _connect(self, database: str | None = None, **kwargs: object) -> pymysql.Connection:
        parsed = make_url(self.url)
        return pymysql.connect(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 3306,
            user=parsed.username or "root",
            password=parsed.password or "",
            database=database,
            autocommit=True,
            charset="utf8mb4",
            **kwargs,  # type: ignore[arg-type]
        )

    @contextmanager
    def cursor(self, database: str | None = None) -> Iterator[Any]:
        """A cursor on a new autocommit root connection (closed afterwards)."""
        conn = self._connect(database)
        try:
            with conn.cursor() as cur:
                yield cur
        finally:
            conn.close()

    def database_url(self, name: str) -> str:
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)

    def create_database(
        self, prefix: str = "ait", *, charset: str = "utf8mb4", collation: str | None = None
    ) -> str:
        name = scratch.create_database(
            self.url, prefix, charset=charset, collation=collation
        ).database
        assert name is not None
        self.created.append(name)
        return name

    def drop_database(self, name: str) -> None:
        scratch.drop_database(self.database_url(name))

    def load_fixture_schema(self, database: str) -> None:
        """Load the package's OpenEMR fixture schema, as the demo does."""
        engine = create_db_engine(self.database_url(database))
        try:
            scratch.create_fixture_schema(engine)
        finally:
            engine.dispose()

    @contextmanager
    def fixture_site(self, prefix: str, charset: str, collation: str) -> Iterator[str]:
        """A throwaway database in ``charset``/``collation`` with the fixture schema (a
        site as OpenEMR installs it in that collation); its URL, dropped afterwards."""
        name = self.create_database(prefix, charset=charset, collation=collation)
        self.load_fixture_schema(name)
        try:
            yield self.database_url(name)
        finally:
            self.drop_database(name)

    def client_command(
        self, database: str, init_command: str | None = None
    ) -> tuple[list[str], dict[str, str]]:
        """The ``mariadb``/``mysql`` command line for this server, and its environment
        (the password travels in MYSQL_PWD, never on the command line)."""
        client = shutil.which("mariadb") or shutil.which("mysql")
        if client is None:
            raise RuntimeError("no mariadb/mysql client binary on PATH")
        parsed = make_url(self.url)
        args = [
            client,
            "--protocol=TCP",
            f"--host={parsed.host or '127.0.0.1'}",
            f"--port={parsed.port or 3306}",
            f"--user={parsed.username or 'root'}",
        ]
        if init_command:
            args.append(f"--init-command={init_command}")
        args.append(database)
        env = dict(os.environ)
        env["MYSQL_PWD"] = parsed.password or ""
        return args, env

    def load_with_client(self, database: str, path: Path, init_command: str | None = None) -> None:
        """Feed a SQL file to the command-line client, as an admin would."""
        args, env = self.client_command(database, init_command)
        with path.open("rb") as handle:
            result = subprocess.run(args, stdin=handle, env=env, capture_output=True, check=False)
        if result.returncode != 0:
            error = result.stderr.decode(errors="replace")
            raise RuntimeError(f"client failed on {path.name}: {error}")

    def load_openemr_schema(self, database: str) -> None:
        """Load the real OpenEMR schema the way OpenEMR's installer does."""
        self.load_with_client(database, OPENEMR_SCHEMA, init_command="SET SESSION sql_mode=''")
        conn = self._connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "UPDATE version SET v_major=7, v_minor=0, v_patch=4, v_database=517"
                )
        finally:
            conn.close()


@dataclass
class StatementLog:
    """Statements an engine sent while a :func:`count_statements` block ran (and, with
    a :class:`ServerCounter`, how many the server executed)."""

    statements: list[str] = field(default_factory=list)
    server_statements: int = 0

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def writes(self) -> list[str]:
        pattern = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
        return [s for s in self.statements if pattern.match(s)]


class ServerCounter:
    """Statements the server executed (global ``Questions``), read on a connection of
    its own. Includes what the SQLAlchemy event cannot see: BEGIN/COMMIT and the
    row-by-row fallback of an ``executemany`` PyMySQL could not batch. Exact only
    while nothing else uses the server (the private server of a bench run)."""

    def __init__(self, engine: Engine) -> None:
        self.raw = engine.raw_connection()
        first = self.read()
        self.overhead = self.read() - first  # the SHOW statement counts itself

    def read(self) -> int:
        cur = self.raw.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
        return int(cur.fetchone()[1])

    def close(self) -> None:
        self.raw.close()


@contextmanager
def count_statements(
    engine: Engine, server: ServerCounter | None = None
) -> Iterator[StatementLog]:
    """Record every SQL statement the engine executes inside the block (one thread at
    a time); with ``server``, also the server-side count."""
    log = StatementLog()
    start = server.read() if server is not None else 0

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
        if server is not None:
            log.server_statements = server.read() - start - server.overhead


# -- one migrated template per session, reset per test ---------------------------------
#
# Building a test database from scratch (fixture schema, every upgrade file, triggers)
# is mostly DDL, which costs the same for every test. Instead each kind of database
# ("fixture": the fixture schema; "migrated": fixture schema + migrate) is built twice
# per session: a template nobody touches and a working copy the tests use. After each
# test the working copy is compared with the template (schema fingerprint, then a
# checksum and auto-increment value per table) and only what differs is restored: the
# rows of the tables a test wrote to (DELETE + INSERT ... SELECT from the template).
# A test that changed the schema (dropped a table, a trigger, converted an engine...)
# gets its working copy rebuilt from scratch.

_FINGERPRINT = """
SELECT MD5(GROUP_CONCAT(x ORDER BY x SEPARATOR '|')) FROM (
  SELECT CONCAT_WS(',', 'S', DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME) AS x
  FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %(db)s
  UNION ALL SELECT CONCAT_WS(',', 'T', TABLE_NAME, TABLE_TYPE, IFNULL(ENGINE, '~'),
    IFNULL(TABLE_COLLATION, '~'), IFNULL(ROW_FORMAT, '~'))
  FROM information_schema.TABLES WHERE TABLE_SCHEMA = %(db)s
  UNION ALL SELECT CONCAT_WS(',', 'C', TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE,
    IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '~'), IFNULL(COLLATION_NAME, '~'), EXTRA)
  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %(db)s
  UNION ALL SELECT CONCAT_WS(',', 'I', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME,
    NON_UNIQUE, IFNULL(SUB_PART, '~'))
  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %(db)s
  UNION ALL SELECT CONCAT_WS(',', 'G', TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING,
    EVENT_MANIPULATION, MD5(ACTION_STATEMENT), DEFINER, SQL_MODE)
  FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %(db)s
  UNION ALL SELECT CONCAT_WS(',', 'R', ROUTINE_TYPE, ROUTINE_NAME, MD5(ROUTINE_DEFINITION))
  FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %(db)s
  UNION ALL SELECT CONCAT_WS(',', 'E', EVENT_NAME) FROM information_schema.EVENTS
  WHERE EVENT_SCHEMA = %(db)s
) AS parts
"""


@dataclass
class _Snapshot:
    """What a database looks like: schema fingerprint, per-table checksum and
    auto-increment counter."""

    fingerprint: str
    tables: dict[str, tuple[int | None, int | None]]


@dataclass
class TemplateDatabase:
    """A template of one kind and the working copy tests get, reset after each test."""

    server: ServerInfo
    build: Callable[[str], None]  # fills a new, empty database (given its name)
    prefix: str
    template: str = ""
    working: str = ""
    _snapshot: _Snapshot | None = None
    resets: int = 0
    rebuilds: int = 0

    def _new(self) -> str:
        name = self.server.create_database(self.prefix)
        self.build(name)
        return name

    def url(self) -> str:
        """The working copy's URL (template and copy are built on first use)."""
        if not self.template:
            self.template = self._new()
            self.working = self._new()
            with self.server.cursor() as cur:
                self._snapshot = _snapshot(cur, self.template)
        return self.server.database_url(self.working)

    def reset(self) -> None:
        """Make the working copy equal to the template again (after a test)."""
        if not self.working or self._snapshot is None:
            return
        with self.server.cursor() as cur:
            _kill_sessions(cur, self.working)
            for _ in range(3):  # an insert may fire a trigger that writes another table
                now = _snapshot(cur, self.working)
                if now.fingerprint != self._snapshot.fingerprint:
                    break
                changed = [
                    table for table, state in self._snapshot.tables.items()
                    if now.tables.get(table) != state
                ]
                if not changed:
                    self.resets += 1
                    return
                try:
                    _restore(cur, self.template, self.working, changed, self._snapshot)
                except pymysql.MySQLError:
                    break  # a table that refuses to be restored: build the copy again
        # schema changed (or the data would not settle): build the copy again
        self.rebuilds += 1
        self.server.drop_database(self.working)
        self.server.created.remove(self.working)
        self.working = self._new()

    def drop(self) -> None:
        for name in (self.working, self.template):
            if name:
                self.server.drop_database(name)


def _snapshot(cur: Any, database: str) -> _Snapshot:
    cur.execute("SET SESSION group_concat_max_len = 67108864")
    cur.execute(_FINGERPRINT, {"db": database})
    fingerprint = str(cur.fetchone()[0])
    cur.execute(
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (database,),
    )
    counters = {str(r[0]): (None if r[1] is None else int(r[1])) for r in cur.fetchall()}
    tables: dict[str, tuple[int | None, int | None]] = {}
    if counters:
        cur.execute(
            "CHECKSUM TABLE " + ", ".join(f"`{database}`.`{t}`" for t in counters)
        )
        for name, checksum in cur.fetchall():
            table = str(name).split(".", 1)[1]
            tables[table] = (None if checksum is None else int(checksum), counters[table])
    return _Snapshot(fingerprint, tables)


def _kill_sessions(cur: Any, database: str) -> None:
    """End connections a test left open on the database (they could hold locks)."""
    cur.execute(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
        (database,),
    )
    for (session,) in cur.fetchall():
        with contextlib.suppress(pymysql.MySQLError):  # it may have ended meanwhile
            cur.execute(f"KILL {int(session)}")


def _restore(
    cur: Any, template: str, working: str, tables: list[str], snapshot: _Snapshot
) -> None:
    cur.execute("SET SESSION foreign_key_checks = 0, sql_mode = ''")
    for table in tables:
        # TRUNCATE, not DELETE: it fires no DELETE trigger (an append-only ledger refuses
        # deletes) and resets the counter; the template's counter is set again if the
        # template's rows alone do not give it
        cur.execute(f"TRUNCATE TABLE `{working}`.`{table}`")
        cur.execute(f"INSERT INTO `{working}`.`{table}` SELECT * FROM `{template}`.`{table}`")
        counter = snapshot.tables[table][1]
        if counter is not None:
            cur.execute(
                "SELECT AUTO_INCREMENT FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (working, table),
            )
            if cur.fetchone()[0] != counter:
                cur.execute(f"ALTER TABLE `{working}`.`{table}` AUTO_INCREMENT = {counter}")


def uows(engine: Engine) -> UnitOfWorkFactory:
    """A unit-of-work factory on ``engine``: what services running several
    transactions take (a test holds only the engine)."""
    return lambda: UnitOfWork(engine)
