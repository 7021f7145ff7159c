"""The incremental alert scan decides exactly what a full scan decides: after a random
walk of stock movements (OpenEMR's sales, receipts, adjustments, deleted sale rows, new
lots), lots destroyed in OpenEMR's screen (no movement), product edits (reorder point,
active) and clock moves (hours to days, so lots
cross the expiry horizon and expire without any write), the incremental dry run, the
full dry run and the real scan that follows agree at every step."""

from __future__ import annotations

import dataclasses
import random
from datetime import date, datetime, timedelta

import pytest
from aesthetic_inventory.alerts.config import load_alert_config
from aesthetic_inventory.alerts.digest import build_template_environment
from aesthetic_inventory.alerts.service import ScanResult, scan
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from clinic import Clinic
from dbtools import make_app
from sqlalchemy import text

START = datetime(2026, 11, 20, 9, 0, 0)


def decision(result: ScanResult) -> tuple[object, ...]:
    """What a scan decided, comparable between two scans."""
    return (
        sorted((i.kind, i.item_key) for i in result.notified),
        result.new,
        result.reminders,
        result.resolved,
        result.current,
    )


def lots_of(clinic: Clinic) -> list[tuple[int, int, int]]:
    return [(int(r[0]), int(r[1]), int(r[2])) for r in clinic.rows(
        "SELECT inventory_id, drug_id, on_hand FROM drug_inventory WHERE destroy_date IS NULL"
    )]


def random_step(rng: random.Random, clinic: Clinic, products: list[int], today: date) -> str:
    """One change as OpenEMR (or the module) writes it; returns what it did."""
    lots = lots_of(clinic)
    action = rng.choice(("sale", "sale", "receipt", "adjust", "new_lot", "reorder",
                         "active", "delete_sale", "destroy"))
    if action in ("sale", "adjust") and lots:
        lot, drug, on_hand = rng.choice(lots)
        if on_hand > 0:
            clinic.add_sale(drug, lot, rng.randint(1, on_hand), sale_date=today,
                            trans_type=1 if action == "sale" else 5)
    elif action == "receipt" and lots:
        lot, drug, _ = rng.choice(lots)
        clinic.add_sale(drug, lot, -rng.randint(1, 20), sale_date=today, trans_type=2)
    elif action == "new_lot":
        clinic.add_lot(rng.choice(products), rng.randint(0, 12),
                       expiration=today + timedelta(days=rng.randint(-3, 45)))
    elif action == "reorder":
        clinic._exec("UPDATE drugs SET reorder_point = :r WHERE drug_id = :d",
                     {"r": rng.choice((0, 3, 8, 20)), "d": rng.choice(products)})
    elif action == "active":
        clinic._exec("UPDATE drugs SET active = 1 - active WHERE drug_id = :d",
                     {"d": rng.choice(products)})
    elif action == "destroy" and lots:  # OpenEMR's Destroy Lot screen: no movement
        clinic._exec("UPDATE drug_inventory SET destroy_date = :t WHERE inventory_id = :i",
                     {"t": today, "i": rng.choice(lots)[0]})
    elif action == "delete_sale":
        sale = clinic.scalar("SELECT MAX(sale_id) FROM drug_sales WHERE trans_type = 1")
        if sale:  # a sale row removed: its units go back to the lot
            clinic._exec("UPDATE drug_inventory di JOIN drug_sales s "
                         "ON s.inventory_id = di.inventory_id AND s.sale_id = :s "
                         "SET di.on_hand = di.on_hand + s.quantity", {"s": sale})
            clinic._exec("DELETE FROM drug_sales WHERE sale_id = :s", {"s": sale})
    return action


@pytest.mark.parametrize(("seed", "reminder_hours"), [(11, 5), (2027, 5), (3, 48)])
def test_incremental_scan_equals_full_scan(migrated_engine, migrated_db_url, seed,
                                           reminder_hours) -> None:
    rng = random.Random(seed)
    clinic = Clinic(migrated_engine)
    products = [clinic.add_drug(f"Product {n}", reorder_point=rng.choice((0, 4, 10, 25)))
                for n in range(12)]
    for drug in products:
        for _ in range(rng.randint(1, 4)):
            clinic.add_lot(drug, rng.randint(0, 15),
                           expiration=START.date() + timedelta(days=rng.randint(-5, 60)))
    app = make_app(migrated_db_url)
    # 5 h: reminders come due between full scans (every 24 h); 48 h: only the day
    # change's range reads find the lots that expired overnight
    config = dataclasses.replace(load_alert_config(app.settings),
                                 reminder_hours=reminder_hours)
    env = build_template_environment()
    now = START
    modes: list[str] = []
    reminded = 0
    for step in range(40):
        for _ in range(rng.randint(0, 4)):
            random_step(rng, clinic, products, now.date())
        now += timedelta(hours=rng.choice((0, 1, 3, 7, 11, 20)), minutes=rng.randint(0, 59))
        full = scan(factory_of(migrated_engine), config, env, dry_run=True, now=now, full=True)
        incremental = scan(factory_of(migrated_engine), config, env, dry_run=True, now=now)
        assert decision(incremental) == decision(full), (step, incremental.mode)
        real = scan(factory_of(migrated_engine), config, env, now=now)
        assert decision(real) == decision(full), (step, real.mode)
        modes.append(real.mode)
        reminded += real.reminders if real.mode == "incremental" else 0
        pending = clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_alert_change")
        assert pending == 0, step  # the scan consumed every change it saw
    # the walk exercised the incremental path, across day changes, and the full scans
    assert modes.count("incremental") >= 20, modes
    assert any(m.startswith("full (last full scan") for m in modes), modes
    assert reminded > 0 or reminder_hours > 24
    with migrated_engine.connect() as conn:
        open_states = conn.execute(text(
            "SELECT COUNT(*) FROM aesthetic_inventory_alert_state WHERE state = 'open'"
        )).scalar_one()
    assert open_states == decision(real)[-1]  # every current item has its open state
    app.close()


def test_time_alone_moves_lots_into_the_horizon_and_past_expiry(
    migrated_engine, migrated_db_url
) -> None:
    """No write at all between two scans, one day apart: the lot expiring tomorrow
    expired (its expiring state resolves, its product's usable stock drops below the
    reorder point) and the lot 31 days out entered the horizon; the incremental scan
    finds it by its two index ranges."""
    clinic = Clinic(migrated_engine)
    drug = clinic.add_drug("Filler", reorder_point=10)
    ageing = clinic.add_lot(drug, 8, expiration=START.date() + timedelta(days=1))
    clinic.add_lot(drug, 5, expiration=START.date() + timedelta(days=200))
    later = clinic.add_lot(clinic.add_drug("Peel"), 3,
                           expiration=START.date() + timedelta(days=31))
    app = make_app(migrated_db_url)
    config, env = load_alert_config(app.settings), build_template_environment()
    first = scan(factory_of(migrated_engine), config, env, now=START)
    assert {(i.kind, i.item_key) for i in first.notified} == {("expiring", str(ageing))}
    next_day = START + timedelta(hours=23)
    full = scan(factory_of(migrated_engine), config, env, dry_run=True, now=next_day, full=True)
    incremental = scan(factory_of(migrated_engine), config, env, now=next_day)
    assert incremental.mode == "incremental"
    assert decision(incremental) == decision(full)
    assert {(i.kind, i.item_key) for i in incremental.notified} == {
        ("expired", str(ageing)), ("low_stock", str(drug)), ("expiring", str(later))}
    assert incremental.resolved == 1  # the expiring state of the lot that expired
    app.close()


def test_openemr_writes_never_fail_and_the_scan_falls_back_to_full(
    migrated_engine, migrated_db_url
) -> None:
    """The change table gone: OpenEMR's sale, product edit and product delete still
    commit (fail-safe triggers) and the scan runs full; a trigger gone (sweep mode):
    full again; tracking back: the first scan is full (a change made while a trigger
    was missing has no change row), the next one incremental."""
    clinic = Clinic(migrated_engine)
    drug = clinic.add_drug("Botox", reorder_point=5)
    lot = clinic.add_lot(drug, 9, expiration=START.date() + timedelta(days=300))
    app = make_app(migrated_db_url)
    config, env = load_alert_config(app.settings), build_template_environment()
    assert scan(factory_of(migrated_engine), config, env, now=START).notified == []
    clinic._exec("DROP TABLE aesthetic_inventory_alert_change")
    clinic.add_sale(drug, lot, 6, sale_date=START.date())  # 3 left: low stock
    clinic._exec("UPDATE drugs SET reorder_point = 4 WHERE drug_id = :d", {"d": drug})
    gone = clinic.add_drug("Deleted")
    clinic._exec("DELETE FROM drugs WHERE drug_id = :d", {"d": gone})
    assert clinic.scalar("SELECT on_hand FROM drug_inventory WHERE inventory_id = :i",
                         {"i": lot}) == 3
    result = scan(factory_of(migrated_engine), config, env, now=START + timedelta(hours=1))
    assert result.mode.startswith("full (changes not tracked")
    assert [(i.kind, i.item_key) for i in result.notified] == [("low_stock", str(drug))]
    clinic._exec("CREATE TABLE aesthetic_inventory_alert_change (id bigint unsigned NOT NULL "
                 "AUTO_INCREMENT PRIMARY KEY, drug_id int NOT NULL)")
    clinic._exec("DROP TRIGGER aesthetic_inventory_drugs_alert_au")
    clinic._exec("UPDATE drugs SET reorder_point = 2 WHERE drug_id = :d", {"d": drug})
    result = scan(factory_of(migrated_engine), config, env, now=START + timedelta(hours=2))
    assert result.mode.startswith("full (changes not tracked")
    assert result.resolved == 1  # 3 on hand is above the new reorder point
    clinic._exec("UPDATE drugs SET reorder_point = 3 WHERE drug_id = :d", {"d": drug})
    migrate(migrated_engine)  # puts the trigger back
    back = scan(factory_of(migrated_engine), config, env, now=START + timedelta(hours=3))
    assert back.mode == "full (settings changed)"
    assert [(i.kind, i.item_key) for i in back.notified] == [("low_stock", str(drug))]
    steady = scan(factory_of(migrated_engine), config, env, now=START + timedelta(hours=4))
    assert steady.mode == "incremental" and steady.notified == []
    app.close()
