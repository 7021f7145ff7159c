"""Where a benchmark runs: a fresh database on a private server or a given server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pymysql
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.private_server import PrivateServer
from aesthetic_inventory.resources import sql_dir
from sqlalchemy.engine import Engine, make_url


def split_plain_sql(script: str) -> list[str]:
    """Statements of a plain SQL script (no procedures), split at line-final ``;``."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith(("--", "#"))):
            continue
        current.append(line)
        if stripped.endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    return statements


def _root_connection(server_url: str, database: str | None = None) -> pymysql.Connection:
    url = make_url(server_url)
    return pymysql.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        autocommit=True,
        charset="utf8mb4",
    )


def migrate_database(engine: Engine) -> None:
    """Apply the module's upgrade files through the module's own migration service."""
    from aesthetic_inventory.migrations.service import migrate

    migrate(engine)


def create_fixture_database(server_url: str, prefix: str = "aibench") -> str:
    """Create a database holding the OpenEMR fixture schema; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = _root_connection(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            cur.execute(f"USE `{name}`")
            script = (sql_dir() / "fixtures" / "openemr_fixture.sql").read_text()
            for statement in split_plain_sql(script):
                cur.execute(statement)
    finally:
        conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """Drop the database named in the URL."""
    url = make_url(database_url)
    conn = _root_connection(database_url)
    try:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{url.database}`")
    finally:
        conn.close()


@contextmanager
def bench_database(server_url: str | None) -> Iterator[tuple[Engine, str]]:
    """A migrated fixture database for one run, dropped afterwards.

    Without ``server_url`` a private throwaway server is started (and stopped)."""
    server: PrivateServer | None = None
    if server_url is None:
        server = PrivateServer()
        server_url = server.start()
    db_url = create_fixture_database(server_url)
    engine = create_db_engine(db_url, pool_size=12, max_overflow=4)
    try:
        migrate_database(engine)
        yield engine, db_url
    finally:
        engine.dispose()
        drop_database(db_url)
        if server is not None:
            server.stop()
