"""Test helpers for real databases: create/drop, load SQL, count statements.

Imported by tests as ``import dbtools`` (pytest puts ``tests/`` on sys.path because
``tests/conftest.py`` lives there).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pymysql
from aesthetic_inventory import scratch
from aesthetic_inventory.db import create_db_engine
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

TESTS_DIR = Path(__file__).resolve().parent
REPO_DIR = TESTS_DIR.parent
OPENEMR_SCHEMA = Path(
    os.environ.get(
        "AESTHETIC_INVENTORY_OPENEMR_SCHEMA",
        REPO_DIR.parent / "shared" / "openemr" / "database.sql",
    )
)


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
    """Statements an engine sent while a :func:`count_statements` block ran."""

    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    @property
    def writes(self) -> list[str]:
        pattern = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.I)
        return [s for s in self.statements if pattern.match(s)]


@contextmanager
def count_statements(engine: Engine) -> Iterator[StatementLog]:
    """Record every SQL statement the engine executes inside the block."""
    log = StatementLog()

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        log.statements.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
