"""Every executemany INSERT of the alerts concern must be
batchable by PyMySQL (one multi-row statement), checked on the wire."""

from __future__ import annotations

from datetime import datetime, timedelta

import pymysql.cursors
from aesthetic_inventory.alerts.config import load_alert_config
from aesthetic_inventory.alerts.digest import build_template_environment
from aesthetic_inventory.alerts.service import run_alert_scan, scan
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from dbtools import make_app
from sqlalchemy import event, text
from sqlalchemy.pool import StaticPool

NOW = datetime.now().replace(microsecond=0)
TODAY = NOW.date()


def seed_many(engine, products: int) -> None:
    """``products`` low-stock products, each with one lot expiring soon: 2 items each."""
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO drugs (name, reorder_point, active) VALUES (:n, 5, 1)"),
            [{"n": f"Batch product {n}"} for n in range(products)],
        )
        conn.execute(
            text(
                "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) SELECT drug_id, CONCAT('L', drug_id), :exp, 1, :wh FROM drugs "
                "WHERE name LIKE 'Batch product %'"
            ),
            {"exp": TODAY + timedelta(days=5), "wh": "onsite"},
        )


def test_every_executemany_insert_is_batchable(migrated_engine, migrated_db_url) -> None:
    seed_many(migrated_engine, 20)
    app = make_app(migrated_db_url, channels="crm,message", message_to="admin,other")
    seen: list[str] = []

    @event.listens_for(app.engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany) -> None:
        if executemany and statement.lstrip().upper().startswith("INSERT"):
            seen.append(statement)

    result = run_alert_scan(app, now=NOW)
    assert len(result.notified) == 40 and len(result.delivery.delivered) == 2
    # state upsert, outbox rows, pnotes messages: each must be one multi-row INSERT
    assert len(seen) >= 3, seen
    not_batchable = [s for s in seen if not pymysql.cursors.RE_INSERT_VALUES.match(s)]
    assert not_batchable == []
    app.close()


def test_scan_of_many_new_items_costs_few_server_statements(
    migrated_engine, migrated_db_url
) -> None:
    seed_many(migrated_engine, 300)  # 600 new items
    app = make_app(migrated_db_url)
    # one shared connection, so the session's Questions counter sees the whole scan
    engine = create_db_engine(migrated_db_url, poolclass=StaticPool)
    with engine.connect() as conn:
        before = int(conn.execute(text("SHOW SESSION STATUS LIKE 'Questions'")).one()[1])
    result = scan(factory_of(engine), load_alert_config(app.settings),
                  build_template_environment(), now=NOW)
    with engine.connect() as conn:
        after = int(conn.execute(text("SHOW SESSION STATUS LIKE 'Questions'")).one()[1])
    assert result.new == 600
    # one statement per row would be > 600; batched, the scan stays a few dozen
    assert after - before < 40, after - before
    engine.dispose()
    app.close()
