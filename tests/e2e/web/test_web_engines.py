"""The web engines send no pre-ping; a pooled connection that sat idle is still checked
(and replaced when the server dropped it), so no request fails on a stale connection."""

from __future__ import annotations

import pytest
from aesthetic_inventory.db import create_db_engine, ping_when_idle
from aesthetic_inventory.web.request_uow import RequestUnitOfWork, is_plain_read
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


def test_request_unit_blocks_share_one_connection_and_keep_the_rollback_contract(
    site: Site,
) -> None:
    uow = RequestUnitOfWork(site.engine)
    insert = text("INSERT INTO aesthetic_inventory_web_launch_nonces "
                  "(nonce, username, used_at, expires_at) VALUES (:n, 'x', NOW(), NOW())")
    count = text("SELECT COUNT(*) FROM aesthetic_inventory_web_launch_nonces WHERE nonce = :n")
    try:
        with uow:
            first = uow.connection.execute(text("SELECT CONNECTION_ID()")).scalar_one()
            uow.connection.execute(insert, {"n": "uncommitted-write"})
        # a block that wrote and left without commit was rolled back
        with uow:
            assert uow.connection.execute(count, {"n": "uncommitted-write"}).scalar_one() == 0
            assert uow.connection.execute(text("SELECT CONNECTION_ID()")).scalar_one() == first
        assert uow.connection.in_transaction()  # a read-only block sends no ROLLBACK
        with uow:
            uow.connection.execute(insert, {"n": "committed-write"})
            uow.commit()
    finally:
        uow.close()
    with site.engine.connect() as conn:
        assert conn.execute(count, {"n": "committed-write"}).scalar_one() == 1
        conn.execute(text("DELETE FROM aesthetic_inventory_web_launch_nonces "
                          "WHERE nonce = 'committed-write'"))
        conn.commit()


def test_plain_reads_and_writes_are_told_apart() -> None:
    assert is_plain_read("  select 1")
    assert is_plain_read("SHOW TABLES")
    assert not is_plain_read("SELECT id FROM form_encounter WHERE pid = 1 FOR UPDATE")
    assert not is_plain_read("SELECT 1 LOCK IN SHARE MODE")
    assert not is_plain_read("UPDATE drug_inventory SET on_hand = 1")
    assert not is_plain_read("INSERT INTO x VALUES (1)")
