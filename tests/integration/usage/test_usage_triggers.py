"""The drug_sales triggers: OpenEMR's edits of AUTO_PROC rows are queued with what
changed; the module's own writes, checkout and other rows are not; the history is
append-only; migrate installs them once."""

from __future__ import annotations

import pytest
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.install.triggers import ensure_triggers
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.triggers import TRIGGERS
from clinic import Clinic
from dbtools import uows
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

SERVICE = "aesthetic-inventory"


def _visit(clinic: Clinic, enc: int = 1, units: int = 1) -> tuple[int, int]:
    drug = clinic.add_drug("Botox", allow_combining=1)
    lot = clinic.add_lot(drug, 10, lot_number="BTX-1")
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, enc)
    clinic.add_line(1, enc, "15828", units)
    reconcile_visit(UnitOfWork(clinic.engine), 1, enc, service_username=SERVICE)
    return drug, lot


def _edits(clinic: Clinic) -> list[tuple]:
    return clinic.rows(
        "SELECT pid, encounter, mapping_id, sale_id, kind, old_quantity, new_quantity, "
        "old_inventory_id, new_inventory_id, username FROM aesthetic_inventory_fee_sheet_edits "
        "ORDER BY id")


def _queued(clinic: Clinic) -> int:
    return int(clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_change_queue"))


def test_migrate_installs_the_usage_triggers_once(migrated_engine: Engine) -> None:
    names = {r[0] for r in Clinic(migrated_engine).rows(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = DATABASE()")}
    assert {spec.name for spec in TRIGGERS} <= names
    migrate(migrated_engine)  # again: nothing to do
    with migrated_engine.begin() as conn:
        report = ensure_triggers(conn)
    assert report.installed and report.created == () and report.replaced == ()


def test_outdated_trigger_is_replaced(migrated_engine: Engine) -> None:
    clinic = Clinic(migrated_engine)
    clinic.execute("DROP TRIGGER aesthetic_inventory_drug_sales_usage_ad")
    clinic.execute(
        "CREATE TRIGGER aesthetic_inventory_drug_sales_usage_ad AFTER DELETE ON drug_sales "
        "FOR EACH ROW BEGIN END")
    with migrated_engine.begin() as conn:
        report = ensure_triggers(conn)
    assert report.replaced == ("aesthetic_inventory_drug_sales_usage_ad",)


def test_fee_sheet_quantity_change_is_queued_with_what_changed(clinic: Clinic) -> None:
    _drug, lot = _visit(clinic)
    mapping = int(clinic.scalar("SELECT id FROM procedure_products"))
    [sale] = clinic.auto_sale_ids(1, 1)
    clinic.execute("DELETE FROM aesthetic_inventory_change_queue")
    clinic.fee_sheet_set_quantity(sale, 2)
    assert _edits(clinic) == [(1, 1, mapping, sale, "update", 1, 2, lot, lot, None)]
    assert _queued(clinic) == 1
    assert clinic.ledgers()[lot] == 0  # OpenEMR's own write keeps the ledger


def test_fee_sheet_delete_is_queued(clinic: Clinic) -> None:
    _drug, lot = _visit(clinic)
    [sale] = clinic.auto_sale_ids(1, 1)
    clinic.fee_sheet_delete(sale)
    [edit] = _edits(clinic)
    assert edit[4:8] == ("delete", 1, None, lot)


def test_module_writes_checkout_and_other_rows_are_not_edits(clinic: Clinic) -> None:
    drug, lot = _visit(clinic, units=1)
    # the module's own reconcile (more units) writes AUTO_PROC rows: not an edit
    clinic.add_line(1, 1, "15828", 2)
    reconcile_visit(UnitOfWork(clinic.engine), 1, 1, service_username=SERVICE)
    assert clinic.held(1, 1) == 3
    # checkout flips billed; the fee sheet rewrites the fee: neither changes stock
    clinic.as_openemr("UPDATE drug_sales SET billed = 1, fee = 12.50 WHERE pid = 1")
    # OpenEMR selling another product line on the visit: not ours
    clinic.as_openemr(
        "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, quantity, "
        "selector, trans_type) VALUES (:d, :i, 1, 1, '2026-03-10', 1, '', 1)",
        {"d": drug, "i": lot})
    assert _edits(clinic) == []


def test_sell_drug_resale_records_the_user(clinic: Clinic) -> None:
    drug, lot = _visit(clinic)
    mapping = int(clinic.scalar("SELECT id FROM procedure_products"))
    clinic.as_openemr(
        "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, user, sale_date, "
        "quantity, selector, trans_type) VALUES (:d, :i, 1, 1, 'biller1', '2026-03-10', 1, "
        ":s, 1)", {"d": drug, "i": lot, "s": f"AUTO_PROC:{mapping}"})
    [edit] = _edits(clinic)
    assert (edit[2], edit[4], edit[6], edit[9]) == (mapping, "insert", 1, "biller1")


def test_trigger_never_fails_openemrs_write(clinic: Clinic) -> None:
    _visit(clinic)
    [sale] = clinic.auto_sale_ids(1, 1)
    clinic.execute("DROP TABLE aesthetic_inventory_fee_sheet_edits")
    clinic.fee_sheet_set_quantity(sale, 3)  # the body fails inside; the write does not
    assert clinic.held(1, 1) == 3


def test_history_is_append_only(clinic: Clinic) -> None:
    clinic.execute(
        "INSERT INTO aesthetic_inventory_usage_history (pid, encounter, mapping_id, drug_id, "
        "new_actual, changed_by, changed_at) VALUES (1, 1, 1, 1, 2, 'nurse', NOW())")
    with pytest.raises(DBAPIError, match="append-only"):
        clinic.execute("UPDATE aesthetic_inventory_usage_history SET new_actual = 3")
    with pytest.raises(DBAPIError, match="append-only"):
        clinic.execute("DELETE FROM aesthetic_inventory_usage_history")
    assert clinic.scalar("SELECT new_actual FROM aesthetic_inventory_usage_history") == 2


def _php_stale_write(clinic: Clinic, sale: int, stale_quantity: int, units: int | None) -> None:
    """FeeSheet::save with a product line read BEFORE the module changed the row: it sets
    the new quantity (or deletes the row) and moves on_hand by what it computed from the
    stale read, without a lock, as the PHP does."""
    inv = clinic.scalar("SELECT inventory_id FROM drug_sales WHERE sale_id = :s", {"s": sale})
    with clinic.engine.begin() as conn:
        conn.exec_driver_sql("SET @aesthetic_inventory_writer = NULL")
        try:
            if units is None:
                conn.exec_driver_sql(f"DELETE FROM drug_sales WHERE sale_id = {sale}")
                conn.exec_driver_sql("UPDATE drug_inventory SET on_hand = on_hand + "
                                     f"{stale_quantity} WHERE inventory_id = {inv}")
            else:
                conn.exec_driver_sql(
                    f"UPDATE drug_sales SET quantity = {units} WHERE sale_id = {sale}")
                conn.exec_driver_sql("UPDATE drug_inventory SET on_hand = on_hand - "
                                     f"{units - stale_quantity} WHERE inventory_id = {inv}")
        finally:
            conn.exec_driver_sql("SET @aesthetic_inventory_writer = 1")


@pytest.mark.parametrize("units", [1, None])
def test_fee_sheet_save_on_a_stale_read_is_reported_as_drift(clinic: Clinic, units: int | None
                                                             ) -> None:
    """OpenEMR's FeeSheet::save moves on_hand by what it computed from an unlocked read.
    When the module changed the row in between, the lot ends off by the difference: the
    module does not correct OpenEMR's write (a drug_inventory trigger would disable the
    engine's oversell check), ``doctor``'s lot-ledger check reports it with its size."""
    from aesthetic_inventory.stock.repository import lot_drift
    from aesthetic_inventory.usage.service import MaterialInput, record_usage

    _drug, lot = _visit(clinic, units=3)
    clinic.add_user("nurse")
    [sale] = clinic.auto_sale_ids(1, 1)
    # the biller's fee sheet shows 3; meanwhile the nurse records 2 (the row shrinks)
    record_usage(uows(clinic.engine), 1, 1, [MaterialInput("CPT4", "15828", "2", reason="OTHER")],
                 user="nurse", service_username=SERVICE)
    assert clinic.held(1, 1) == 2
    _php_stale_write(clinic, sale, 3, units)  # 3 -> 1, or deleted, computed from 3
    assert clinic.ledgers()[lot] == 1  # the PHP gave back one unit more than the row held
    with clinic.engine.connect() as conn:
        [drift] = [d for d in lot_drift(conn) if d.inventory_id == lot]
    assert drift.drift == 1 and clinic.on_hand(lot) == 10 - (units or 0) + 1
