"""The web engines send no pre-ping; a pooled connection that sat idle is still checked
(and replaced when the server dropped it), so no request fails on a stale connection."""

from __future__ import annotations

import pytest
from aesthetic_inventory.db import create_db_engine, ping_when_idle
from conftest import Site
from sqlalchemy import text

pytestmark = [pytest.mark.e2e]


def _connection_id(engine) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT CONNECTION_ID()")).scalar_one())


def test_an_idle_connection_the_server_dropped_is_replaced(site: Site) -> None:
    engine = create_db_engine(site.url, pool_pre_ping=False, pool_size=1)
    ping_when_idle(engine, 0.0)
    try:
        first = _connection_id(engine)
        with site.engine.connect() as admin:
            admin.execute(text(f"KILL CONNECTION {first}"))
        assert _connection_id(engine) != first  # no error: the ping found it dead
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_pinged(site: Site) -> None:
    engine = create_db_engine(site.url, pool_pre_ping=False, pool_size=1)
    ping_when_idle(engine, 3600.0)
    pings = []
    real = engine.dialect.do_ping
    engine.dialect.do_ping = lambda conn: pings.append(1) or real(conn)  # type: ignore[method-assign]
    try:
        ids = {_connection_id(engine) for _ in range(5)}
    finally:
        engine.dispose()
    assert len(ids) == 1 and pings == []
