"""Scratch databases holding the small OpenEMR-compatible fixture schema.

Used by ``demo``, the benchmark and the test suite: create a database with a random
name on a server, load ``sql/fixtures/openemr_fixture.sql`` into it, drop it after.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from sqlalchemy.engine import URL, Connection, Engine

from . import db_repository
from .db import connect, create_db_engine, parse_database_url
from .migrations import runner
from .migrations.directives import parse_sql
from .resources import sql_dir

FIXTURE_SCHEMA = "fixtures/openemr_fixture.sql"


def server_url(url: str | URL) -> URL:
    """``url`` without its database name: the server itself.

    ``URL.set(database=None)`` would keep the name (``set`` ignores ``None``), and a
    connection to a database that is being (or was) dropped fails with 1049."""
    return parse_database_url(url)._replace(database=None)


def _run_on_server(url: URL, work: Callable[[Connection], None]) -> None:
    """``work`` (one statement) on the server of ``url``, outside any database."""
    admin = create_db_engine(server_url(url))
    try:
        with connect(admin) as conn:
            work(conn)
    finally:
        admin.dispose()


def create_database(
    server_url: str | URL, prefix: str, *, charset: str = "utf8mb4", collation: str | None = None
) -> URL:
    """Create an empty database ``<prefix>_<random>`` (utf8mb4 with the server's default
    collation unless told otherwise); returns its URL."""
    base = parse_database_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _run_on_server(
        base, lambda conn: db_repository.create_database(conn, name, charset, collation)
    )
    return base.set(database=name)


def drop_database(database_url: str | URL) -> None:
    """Drop the database named in the URL (if it exists)."""
    url = parse_database_url(database_url)
    _run_on_server(url, lambda conn: db_repository.drop_database(conn, url.database))


def create_fixture_schema(engine: Engine) -> None:
    """Create the small OpenEMR-compatible schema shipped in the package."""
    path = sql_dir() / FIXTURE_SCHEMA
    parsed = parse_sql(path.read_text(encoding="utf-8"), path.name)
    with connect(engine) as conn:
        runner.apply_parsed(conn.execution_options(isolation_level="AUTOCOMMIT"), parsed)


def create_fixture_database(server_url: str | URL, prefix: str) -> URL:
    """A new scratch database loaded with the fixture schema; returns its URL."""
    url = create_database(server_url, prefix)
    engine = create_db_engine(url)
    try:
        create_fixture_schema(engine)
    finally:
        engine.dispose()
    return url
