"""The new / reminder / resolved diff runs in SQL, so a steady-state scan
moves only changed rows to Python, and every state transition still resolves."""

from __future__ import annotations

from datetime import datetime, timedelta

from aesthetic_inventory.alerts.config import load_alert_config
from aesthetic_inventory.alerts.digest import build_template_environment
from aesthetic_inventory.alerts.service import run_alert_scan, scan
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from clinic import Clinic
from dbtools import make_app
from sqlalchemy import text
from sqlalchemy.pool import StaticPool
from test_alert_batching import seed_many

NOW = datetime.now().replace(microsecond=0)
TODAY = NOW.date()


def rows_sent(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SHOW SESSION STATUS LIKE 'Rows_sent'")).one()[1])


def scan_counting_rows(url: str, app, at: datetime, *, full: bool = False):
    """One scan on a single shared connection; returns (result, rows the server
    sent to Python for it), from the session's ``Rows_sent`` counter."""
    engine = create_db_engine(url, poolclass=StaticPool)
    try:
        before = rows_sent(engine)
        result = scan(factory_of(engine), load_alert_config(app.settings),
                      build_template_environment(),
                      now=at, full=full)
        # the counter query itself sends one row
        return result, rows_sent(engine) - before - 1
    finally:
        engine.dispose()


def test_steady_scan_moves_no_quiet_item(migrated_engine, migrated_db_url) -> None:
    seed_many(migrated_engine, 300)  # 600 alerting items
    app = make_app(migrated_db_url)
    first, first_rows = scan_counting_rows(migrated_db_url, app, NOW)
    assert first.new == 600 and first.current == 600
    assert first_rows >= 600
    steady, steady_rows = scan_counting_rows(migrated_db_url, app, NOW + timedelta(hours=1))
    assert steady.notified == [] and steady.resolved == 0
    assert steady.current == 600  # counted in SQL, not fetched
    assert steady_rows < 15, steady_rows  # lock, table checks, count: no item rows
    assert steady.mode == "incremental"
    # one lot's expiration corrected by hand (no stock movement, so no change row: the
    # full scan finds it): exactly one resolved row travels
    with migrated_engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE drug_inventory SET expiration = :far WHERE inventory_id = "
                "(SELECT MIN(inventory_id) FROM drug_inventory)"
            ),
            {"far": TODAY + timedelta(days=400)},
        )
    changed, changed_rows = scan_counting_rows(migrated_db_url, app, NOW + timedelta(hours=2),
                                               full=True)
    assert changed.resolved == 1 and changed.notified == [] and changed.current == 599
    assert changed_rows < 15, changed_rows
    app.close()


def test_every_transition_resolves_the_old_state(migrated_engine, migrated_db_url) -> None:
    low = Clinic(migrated_engine).add_drug("Low then out", reorder_point=5)
    low_lot = Clinic(migrated_engine).add_lot(
        low, 2, lot_number="L1", expiration=TODAY + timedelta(days=300)
    )
    inactive = Clinic(migrated_engine).add_drug(
        "Deactivated", reorder_point=5
    )  # out of stock, then inactive
    ageing = Clinic(migrated_engine).add_drug("Ageing", reorder_point=0)
    ageing_lot = Clinic(migrated_engine).add_lot(
        ageing, 4, lot_number="A1", expiration=TODAY + timedelta(days=3)
    )
    with migrated_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO aesthetic_inventory_usage (pid, encounter, mapping_id, drug_id, "
                "code_type, code, planned_quantity, required_units, allocated_units, "
                "shortage_units, updated_at) VALUES (7, 70, 3, :d, 'CPT4', '1', 2, 2, 0, 2, "
                "NOW())"
            ),
            {"d": ageing},
        )
        conn.execute(
            text(
                "INSERT INTO aesthetic_inventory_alert_state (kind, item_key, state, "
                "first_seen, last_seen, last_notified) VALUES ('retired_kind', 'x', 'open', "
                ":now, :now, :now)"
            ),
            {"now": NOW},
        )
    app = make_app(migrated_db_url)
    first = run_alert_scan(app, now=NOW)
    assert {(i.kind, i.item_key) for i in first.notified} == {
        ("low_stock", str(low)),
        ("out_of_stock", str(inactive)),
        ("expiring", str(ageing_lot)),
        ("shortage", "7-70-3"),
    }
    assert first.resolved == 1  # the state of a kind no rule produces

    later = NOW + timedelta(days=5)  # the lot has expired by then
    # the lot's 2 units taken out in OpenEMR's lot screen (an adjustment row)
    Clinic(migrated_engine).add_sale(low, low_lot, 2, sale_date=TODAY, trans_type=5)
    with migrated_engine.begin() as conn:
        conn.execute(text("UPDATE drugs SET active = 0 WHERE drug_id = :d"), {"d": inactive})
        conn.execute(text("UPDATE aesthetic_inventory_usage SET shortage_units = 0"))
    second = run_alert_scan(app, now=later)
    assert {(i.kind, i.item_key) for i in second.notified} == {
        ("out_of_stock", str(low)),
        ("expired", str(ageing_lot)),
    }
    assert second.new == 2 and second.reminders == 0
    assert second.resolved == 4  # low_stock, inactive product, expiring lot, shortage
    assert second.current == 2
    open_keys = Clinic(migrated_engine).scalar(
        "SELECT GROUP_CONCAT(CONCAT(kind, ':', item_key) ORDER BY kind) "
        "FROM aesthetic_inventory_alert_state WHERE state = 'open'"
    )
    assert open_keys == f"expired:{ageing_lot},out_of_stock:{low}"
    app.close()
