"""Where a benchmark runs: a fresh database on a private server or a given server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aesthetic_inventory import scratch
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.private_server import PrivateServer
from sqlalchemy.engine import Engine


def migrate_database(engine: Engine) -> None:
    """Apply the module's upgrade files through the module's own migration service."""
    from aesthetic_inventory.install.service import migrate

    migrate(engine)


def create_fixture_database(server_url: str, prefix: str = "aibench") -> str:
    """Create a database holding the OpenEMR fixture schema; returns its URL."""
    url = scratch.create_fixture_database(server_url, prefix)
    return url.render_as_string(hide_password=False)


def drop_database(database_url: str) -> None:
    """Drop the database named in the URL."""
    scratch.drop_database(database_url)


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
