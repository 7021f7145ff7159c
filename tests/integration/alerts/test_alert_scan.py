"""Alert scan on real MariaDB: right items, one digest, once per state, reminders."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import dbtools
from aesthetic_inventory.alerts.service import run_alert_scan
from aesthetic_inventory.bootstrap import build_app
from clinic import Clinic
from dbtools import make_app
from sqlalchemy import text

NOW = datetime.now().replace(microsecond=0)
TODAY = NOW.date()


def seed_clinic(engine) -> dict[str, int]:
    clinic = Clinic(engine)
    ids: dict[str, int] = {}
    ids["botox"] = clinic.add_drug("Botox Cosmetic 100U", reorder_point=5)
    ids["botox_good"] = clinic.add_lot(
        ids["botox"], 3, lot_number="B-GOOD", expiration=TODAY + timedelta(days=300)
    )
    # 10 expired units must not count as usable stock: usable is 3 <= 5 -> low stock
    ids["botox_expired"] = clinic.add_lot(
        ids["botox"], 10, lot_number="B-OLD", expiration=TODAY - timedelta(days=1)
    )
    ids["botox_destroyed"] = clinic.add_lot(
        ids["botox"],
        50,
        lot_number="B-GONE",
        expiration=TODAY + timedelta(days=300),
        destroyed=TODAY,
    )
    ids["filler"] = clinic.add_drug("Hyaluronic Acid Filler 1mL", reorder_point=2)
    ids["filler_lot"] = clinic.add_lot(
        ids["filler"], 20, lot_number="F-1", expiration=TODAY + timedelta(days=10)
    )
    ids["peel"] = clinic.add_drug("Medical Grade Peel Kit", reorder_point=1)  # healthy
    clinic.add_lot(ids["peel"], 50, lot_number="P-1", expiration=TODAY + timedelta(days=200))
    ids["empty"] = clinic.add_drug("Thread Lift Kit", reorder_point=1)  # no lots at all
    ids["inactive"] = clinic.add_drug("Retired Product", reorder_point=5, active=0)
    return ids


def test_one_digest_with_the_right_items(migrated_engine, migrated_db_url) -> None:
    ids = seed_clinic(migrated_engine)
    app = make_app(migrated_db_url)
    result = run_alert_scan(app, now=NOW)

    found = {(i.kind, i.item_key) for i in result.notified}
    assert found == {
        ("low_stock", str(ids["botox"])),
        ("expired", str(ids["botox_expired"])),
        ("expiring", str(ids["filler_lot"])),
        ("out_of_stock", str(ids["empty"])),
    }
    botox = next(i for i in result.notified if i.kind == "low_stock")
    assert botox.on_hand == 3  # expired and destroyed lots are not usable stock
    text_ = result.digest_text or ""
    assert "Medical Grade Peel Kit" not in text_ and "Retired Product" not in text_
    assert "F-1, warehouse On Site: on hand 20, reorder point 2" in text_
    assert "(10 day(s) left)" in text_

    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM aesthetic_inventory_outbox") == 1
    crm = Clinic(migrated_engine).rows(
        "SELECT pid, pc_eid, sms_gateway_type, smsgateway_info, message, email_sender, "
        "email_subject, type, patient_info, pc_eventDate, pc_endDate, "
        "CAST(pc_startTime AS CHAR), CAST(pc_endTime AS CHAR), dSentDateTime "
        "FROM notification_log"
    )
    assert len(crm) == 1
    row = crm[0]
    assert row[:4] == (0, None, "CRM", "AestheticInventory")
    assert row[4] == result.digest_text
    assert row[5:9] == ("no-reply@openemr.local", "Aesthetic Inventory Alert", "Email", "")
    assert row[9] == row[10] == TODAY
    assert row[11:13] == ("00:00:00", "23:59:59")
    assert abs((row[13] - NOW).total_seconds()) < 5

    assert (
        Clinic(migrated_engine).scalar(
            "SELECT last_notify FROM drugs WHERE drug_id = :d", {"d": ids["botox"]}
        )
        == TODAY
    )
    assert (
        Clinic(migrated_engine).scalar(
            "SELECT last_notify FROM drug_inventory WHERE inventory_id = :i",
            {"i": ids["filler_lot"]},
        )
        == TODAY
    )
    assert (
        Clinic(migrated_engine).scalar(
            "SELECT last_notify FROM drugs WHERE drug_id = :d", {"d": ids["peel"]}
        )
        is None
    )


def test_no_repeat_same_day_then_reminder(migrated_engine, migrated_db_url) -> None:
    seed_clinic(migrated_engine)
    app = make_app(migrated_db_url)
    first = run_alert_scan(app, now=NOW)
    assert len(first.notified) == 4

    with dbtools.count_statements(app.engine) as log:
        again = run_alert_scan(app, now=NOW + timedelta(hours=3))
    assert again.notified == [] and again.digest is None
    assert log.count > 3
    assert log.writes == []  # nothing new: the scan only reads
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1

    later = run_alert_scan(app, now=NOW + timedelta(hours=24, minutes=1))
    assert later.reminders == 4 and later.new == 0
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 2
    assert (
        Clinic(migrated_engine).scalar(
            "SELECT MIN(notify_count) FROM aesthetic_inventory_alert_state WHERE state = 'open'"
        )
        == 2
    )


def test_rules_are_set_based(migrated_engine, migrated_db_url) -> None:
    for n in range(30):
        drug = Clinic(migrated_engine).add_drug(f"Product {n}", reorder_point=5)
        Clinic(migrated_engine).add_lot(
            drug, 1, lot_number=f"L{n}", expiration=TODAY + timedelta(days=5)
        )
    app = make_app(migrated_db_url)
    with dbtools.count_statements(app.engine) as log:
        result = run_alert_scan(app, now=NOW)
    assert len(result.notified) == 60  # 30 low stock + 30 expiring lots
    selects = [s for s in log.statements if s.lstrip().upper().startswith("SELECT")]
    # a handful of queries in total, not one per product or lot
    assert len(log.statements) < 30, log.statements
    # (the incremental scan's own reads: watermark, change rows, installed triggers)
    assert 5 <= len(selects) < 17


def test_resolved_item_alerts_again_when_it_returns(migrated_engine, migrated_db_url) -> None:
    drug = Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    lot = Clinic(migrated_engine).add_lot(drug, 2, lot_number="B", expiration=date(2099, 1, 1))
    app = make_app(migrated_db_url)
    assert len(run_alert_scan(app, now=NOW).notified) == 1
    # 98 units received in OpenEMR's lot screen (a purchase row)
    Clinic(migrated_engine).add_sale(drug, lot, -98, sale_date=NOW.date(), trans_type=2)
    resolved = run_alert_scan(app, now=NOW + timedelta(minutes=5))
    assert resolved.resolved == 1 and resolved.notified == []
    Clinic(migrated_engine).add_sale(drug, lot, 99, sale_date=NOW.date(), trans_type=5)
    back = run_alert_scan(app, now=NOW + timedelta(minutes=10))
    assert back.new == 1


def test_dry_run_writes_nothing(migrated_engine, migrated_db_url) -> None:
    seed_clinic(migrated_engine)
    app = make_app(migrated_db_url)
    with dbtools.count_statements(app.engine) as log:
        result = run_alert_scan(app, dry_run=True, now=NOW)
    assert len(result.notified) == 4 and result.digest_text
    assert log.count > 3  # it did query
    assert log.writes == []
    assert (
        Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM aesthetic_inventory_alert_state") == 0
    )


def test_shortages_from_the_usage_table(migrated_engine, migrated_db_url) -> None:
    drug = Clinic(migrated_engine).add_drug("Filler", reorder_point=0)
    with migrated_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO aesthetic_inventory_usage (pid, encounter, mapping_id, drug_id, "
                "code_type, code, planned_quantity, required_units, allocated_units, "
                "shortage_units, updated_at) VALUES (5, 50, 9, :d, 'CPT4', '11950', 3, 3, 1, 2, "
                "NOW())"
            ),
            {"d": drug},
        )
    result = run_alert_scan(make_app(migrated_db_url), now=NOW)
    assert [(i.kind, i.item_key) for i in result.notified] == [("shortage", "5-50-9")]
    assert "patient 5, encounter 50, code CPT4 11950: 2 unit(s)" in (result.digest_text or "")


def test_without_usage_table_shortage_rule_is_skipped(migrated_engine, migrated_db_url) -> None:
    with migrated_engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS aesthetic_inventory_usage"))
    Clinic(migrated_engine).add_drug("Empty", reorder_point=1)
    result = run_alert_scan(make_app(migrated_db_url), now=NOW)
    assert result.shortage_rule is False
    assert [i.kind for i in result.notified] == ["out_of_stock"]


def test_works_under_openemr_empty_sql_mode(migrated_engine, migrated_db_url) -> None:
    from aesthetic_inventory.db import create_db_engine

    seed_clinic(migrated_engine)
    # the session mode OpenEMR itself uses
    openemr_mode = create_db_engine(
        migrated_db_url, connect_args={"init_command": "SET SESSION sql_mode=''"}
    )
    app = build_app(environ={}, engine=openemr_mode)
    with app.engine.connect() as conn:
        assert conn.execute(text("SELECT @@SESSION.sql_mode")).scalar() == ""
    result = run_alert_scan(app, now=NOW)
    assert len(result.notified) == 4
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1
    app.close()


def test_concurrent_scans_notify_once(migrated_engine, migrated_db_url) -> None:
    import threading

    seed_clinic(migrated_engine)
    results = []

    def scan() -> None:
        app = make_app(migrated_db_url)
        results.append(run_alert_scan(app, now=NOW))
        app.close()

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(len(r.notified) for r in results) == [0, 0, 0, 4]
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1
