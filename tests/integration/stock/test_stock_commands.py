"""Stock commands on the fixture schema: the rows OpenEMR's lot screen would write, the
ledger, costs, refusals that write nothing, and the ledger table's immutability."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from aesthetic_inventory.stock import domain, service
from aesthetic_inventory.stock.repository import lot_drift
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

TODAY = date.today()
LATER = TODAY + timedelta(days=400)


def _uow(engine: Engine):  # type: ignore[no-untyped-def]
    return lambda: UnitOfWork(engine)


def _line(product: str, lot: str, qty: int, cost: str, warehouse: str = "",
          expires: date = LATER) -> domain.ReceiptLine:
    line, errors = domain.validate_receipt(product=product, lot_number=lot, expires=expires,
                                           quantity=qty, unit_cost=cost, today=TODAY,
                                           warehouse=warehouse)
    assert not errors and line is not None
    return line


@pytest.fixture
def stock(clinic: Clinic) -> Clinic:
    # the fixture has warehouse "onsite" (seq 5), the first and so the default one
    clinic.add_warehouse("clinic2", 20)
    return clinic


def test_receipt_writes_a_purchase_row_and_costs(stock: Clinic, migrated_engine: Engine) -> None:
    drug = stock.add_drug("Botox")
    result = service.receive(_uow(migrated_engine), [_line("Botox", "B1", 10, "20.00")],
                             user="admin", today=TODAY, supplier="Allergan", invoice="INV-1")
    (line,) = result.lines
    assert line.new_lot and line.warehouse == "onsite"  # the default warehouse
    assert stock.on_hand(line.inventory_id) == 10
    ((_, inv, xfer, pid, distributor, fee, qty, trans_type, notes, user),) = stock.sales(
        line.inventory_id)
    assert (inv, xfer, pid, distributor, fee, qty, trans_type, user) == (
        line.inventory_id, 0, 0, 0, Decimal("-200.00"), -10, 2, "admin")
    assert "INV-1" in notes
    assert stock.ledgers()[line.inventory_id] == 0
    assert stock.stock_ledger() == [
        ("RECEIVE", line.inventory_id, drug, 10, "delivery", str(result.delivery_id), "")]
    assert stock.scalar("SELECT unit_cost FROM drug_inventory WHERE inventory_id = :i",
                        {"i": line.inventory_id}) == Decimal("20.00")
    assert stock.scalar("SELECT supplier_name FROM drugs WHERE drug_id = :d",
                        {"d": drug}) == "Allergan"

    # a second receipt of the same lot number reuses the lot; costs: average and last
    again = service.receive(_uow(migrated_engine), [_line(str(drug), "B1", 30, "24.00")],
                            user="admin", today=TODAY)
    assert again.lines[0].inventory_id == line.inventory_id and not again.lines[0].new_lot
    assert stock.on_hand(line.inventory_id) == 40
    avg, last = stock.rows("SELECT average_cost, last_cost FROM "
                           "aesthetic_inventory_product_stock WHERE drug_id = :d",
                           {"d": drug})[0]
    assert (avg, last) == (Decimal("23.0000"), Decimal("24.0000"))  # (10*20+30*24)/40
    assert stock.ledgers()[line.inventory_id] == 0


def test_delivery_is_all_or_nothing(stock: Clinic, migrated_engine: Engine) -> None:
    stock.add_drug("Botox")
    before = stock.scalar("SELECT COUNT(*) FROM drug_sales")
    with pytest.raises(domain.FileValidationError) as err:
        service.receive(_uow(migrated_engine), domain.parse_delivery(
            "product,lot,expires,quantity,unit_cost,warehouse\n"
            f"Botox,B1,{LATER},10,20,\n"
            f"Nope,N1,{LATER},1,1,\n"
            f"Botox,B2,{LATER},1,1,attic\n", today=TODAY, source="d.csv"),
            user="admin", today=TODAY, source="d.csv")
    assert str(err.value) == ("d.csv: line 3, column product: no product named 'Nope' "
                              "(and 1 more); nothing was written")
    assert str(err.value.errors[1]) == "line 4, column warehouse: no warehouse 'attic'"
    assert stock.scalar("SELECT COUNT(*) FROM drug_sales") == before
    assert stock.scalar("SELECT COUNT(*) FROM drug_inventory") == 0
    assert stock.scalar("SELECT COUNT(*) FROM aesthetic_inventory_delivery") == 0


def test_dry_run_writes_nothing(stock: Clinic, migrated_engine: Engine) -> None:
    stock.add_drug("Botox")
    result = service.receive(_uow(migrated_engine), [_line("Botox", "B1", 10, "20")],
                             user="admin", today=TODAY, dry_run=True)
    assert result.dry_run and result.units == 10
    assert stock.scalar("SELECT COUNT(*) FROM drug_inventory") == 0
    assert stock.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_ledger") == 0


def test_transfer_as_openemr_writes_it(stock: Clinic, migrated_engine: Engine) -> None:
    drug = stock.add_drug("Botox")
    src = service.receive(_uow(migrated_engine), [_line("Botox", "B1", 10, "20")],
                          user="admin", today=TODAY).lines[0].inventory_id
    r = service.transfer(_uow(migrated_engine), src, "clinic2", 4, user="nurse", today=TODAY)
    assert r.new_lot and stock.on_hand(src) == 6 and stock.on_hand(r.destination_id) == 4
    rows = [s for s in stock.sales(r.destination_id) if s[7] == 4]
    ((_, inv, xfer, pid, _, fee, qty, _, _, user),) = rows
    assert (inv, xfer, pid, fee, qty, user) == (r.destination_id, src, 0, Decimal(0), -4,
                                                 "nurse")
    assert stock.ledgers() == {src: 0, r.destination_id: 0}
    lot = stock.rows("SELECT lot_number, expiration, warehouse_id, unit_cost FROM "
                     "drug_inventory WHERE inventory_id = :i", {"i": r.destination_id})[0]
    assert lot == ("B1", LATER, "clinic2", Decimal("20.00"))
    # a second transfer lands in the same destination lot
    r2 = service.transfer(_uow(migrated_engine), src, "clinic2", 6, user="nurse", today=TODAY)
    assert not r2.new_lot and r2.destination_id == r.destination_id
    assert stock.on_hand(src) == 0 and stock.on_hand(r.destination_id) == 10
    assert stock.stock_ledger_sums() == {src: 0, r.destination_id: 10}
    assert [m[0] for m in stock.stock_ledger()] == ["RECEIVE"] + ["TRANSFER"] * 4
    assert drug
    with pytest.raises(domain.StockInputError, match="holds 0"):
        service.transfer(_uow(migrated_engine), src, "clinic2", 1, user="n", today=TODAY)
    with pytest.raises(domain.StockInputError, match="no warehouse"):
        service.transfer(_uow(migrated_engine), r.destination_id, "attic", 1, user="n",
                         today=TODAY)


def test_adjust_never_below_zero(stock: Clinic, migrated_engine: Engine) -> None:
    stock.add_drug("Botox")
    lot = service.receive(_uow(migrated_engine), [_line("Botox", "B1", 5, "20")],
                          user="admin", today=TODAY).lines[0].inventory_id
    r = service.adjust(_uow(migrated_engine), lot, -2, "damaged", user="n", today=TODAY,
                       notes="dropped")
    assert (r.before, r.after) == (5, 3)
    row = [s for s in stock.sales(lot) if s[7] == 5][0]
    assert (row[5], row[6], row[8]) == (Decimal(0), 2, "DAMAGED: dropped")
    with pytest.raises(domain.StockInputError, match="below zero"):
        service.adjust(_uow(migrated_engine), lot, -4, "WASTAGE", user="n", today=TODAY)
    with pytest.raises(domain.StockInputError, match="reason"):
        service.adjust(_uow(migrated_engine), lot, 1, "LUCK", user="n", today=TODAY)
    assert stock.on_hand(lot) == 3 and stock.ledgers()[lot] == 0
    assert stock.stock_ledger(lot)[-1] == ("ADJUST", lot, r_drug(stock, lot), -2,
                                           "adjustment", str(r.sale_id), "DAMAGED")


def r_drug(clinic: Clinic, lot: int) -> int:
    return int(clinic.scalar("SELECT drug_id FROM drug_inventory WHERE inventory_id = :i",
                             {"i": lot}))


def test_count_adjusts_differences(stock: Clinic, migrated_engine: Engine) -> None:
    stock.add_drug("Botox")
    res = service.receive(_uow(migrated_engine), [
        _line("Botox", "B1", 10, "20"), _line("Botox", "B2", 5, "10"),
        _line("Botox", "B3", 7, "1")], user="admin", today=TODAY)
    a, b, c = (x.inventory_id for x in res.lines)
    lines = domain.parse_count(f"lot_id,counted\n{a},8\n{b},6\n{c},7\n")
    dry = service.count(_uow(migrated_engine), lines, user="n", today=TODAY, dry_run=True)
    assert dry.summary.adjusted == 2 and stock.on_hand(a) == 10
    r = service.count(_uow(migrated_engine), lines, user="n", today=TODAY)
    s = r.summary
    assert (s.lots, s.adjusted, s.units_over, s.units_short) == (3, 2, 1, 2)
    assert (s.value_over, s.value_short) == (Decimal("10.00"), Decimal("40.00"))
    assert (stock.on_hand(a), stock.on_hand(b), stock.on_hand(c)) == (8, 6, 7)
    assert all(v == 0 for v in stock.ledgers().values())
    assert stock.stock_ledger_sums() == {a: 8, b: 6, c: 7}
    with pytest.raises(domain.FileValidationError, match="line 2, column lot_id"):
        service.count(_uow(migrated_engine), domain.parse_count("lot_id,counted\n999,1\n"),
                      user="n", today=TODAY)


def test_destroy_as_destroy_lot_php(stock: Clinic, migrated_engine: Engine) -> None:
    stock.add_drug("Botox")
    lot = service.receive(_uow(migrated_engine), [_line("Botox", "B1", 5, "20")],
                          user="admin", today=TODAY).lines[0].inventory_id
    sales_before = len(stock.sales())
    service.destroy(_uow(migrated_engine), lot, method="incinerated", witness="Dr Who",
                    user="n", today=TODAY, notes="broken seal")
    row = stock.rows("SELECT destroy_date, destroy_method, destroy_witness, destroy_notes, "
                     "on_hand FROM drug_inventory WHERE inventory_id = :i", {"i": lot})[0]
    assert row == (TODAY, "incinerated", "Dr Who", "broken seal", 5)
    assert len(stock.sales()) == sales_before  # not a sale row
    assert stock.stock_ledger(lot)[-1][:4] == ("DESTROY", lot, r_drug(stock, lot), -5)
    with pytest.raises(domain.StockInputError, match="already destroyed"):
        service.destroy(_uow(migrated_engine), lot, method="x", witness="y", user="n",
                        today=TODAY)


def test_ledger_table_refuses_update_and_delete(stock: Clinic,
                                                migrated_engine: Engine) -> None:
    stock.add_drug("Botox")
    service.receive(_uow(migrated_engine), [_line("Botox", "B1", 5, "20")], user="a",
                    today=TODAY)
    for sql in ("UPDATE aesthetic_inventory_stock_ledger SET quantity = 99",
                "DELETE FROM aesthetic_inventory_stock_ledger"):
        with pytest.raises(DBAPIError, match="append-only"):
            stock.execute(sql)
    assert stock.stock_ledger_sums() == {stock.scalar("SELECT MAX(inventory_id) FROM "
                                                      "drug_inventory"): 5}


def test_auto_proc_sales_are_observed_as_issue_and_return(stock: Clinic,
                                                         migrated_engine: Engine) -> None:
    from aesthetic_inventory.consumption.service import reconcile_visit

    drug = stock.add_drug("Botox", allow_combining=1)
    lot = service.receive(_uow(migrated_engine), [_line("Botox", "B1", 10, "20")],
                          user="a", today=TODAY).lines[0].inventory_id
    stock.add_mapping("15828", drug)
    stock.add_visit(1, 1)
    line = stock.add_line(1, 1, "15828", 3)
    reconcile_visit(UnitOfWork(migrated_engine), 1, 1, service_username="biller")
    stock.execute("UPDATE billing SET units = 1 WHERE id = :i", {"i": line})
    reconcile_visit(UnitOfWork(migrated_engine), 1, 1, service_username="biller")
    stock.execute("UPDATE billing SET activity = 0 WHERE id = :i", {"i": line})
    reconcile_visit(UnitOfWork(migrated_engine), 1, 1, service_username="biller")
    moves = [(m[0], m[3], m[4], m[5]) for m in stock.stock_ledger(lot)]
    assert moves == [("RECEIVE", 10, "delivery", moves[0][3]), ("ISSUE", -3, "visit", "1.1"),
                     ("RETURN", 2, "visit", "1.1"), ("RETURN", 1, "visit", "1.1")]
    assert stock.stock_ledger_sums()[lot] == stock.on_hand(lot) == 10


def test_lot_drift_reports_a_manual_edit(stock: Clinic, migrated_engine: Engine) -> None:
    stock.add_drug("Botox")
    res = service.receive(_uow(migrated_engine), [_line("Botox", "B1", 5, "20"),
                                                  _line("Botox", "B2", 5, "20")],
                          user="a", today=TODAY)
    a, b = (x.inventory_id for x in res.lines)
    service.transfer(_uow(migrated_engine), a, "clinic2", 2, user="n", today=TODAY)
    with migrated_engine.connect() as conn:
        assert lot_drift(conn) == []
    stock.execute("UPDATE drug_inventory SET on_hand = on_hand + 3 WHERE inventory_id = :i",
                  {"i": b})
    with migrated_engine.connect() as conn:
        (d,) = lot_drift(conn)
    assert (d.inventory_id, d.on_hand, d.expected_on_hand, d.drift) == (b, 8, 5, 3)
    from aesthetic_inventory.install.doctor import run_doctor

    (check,) = [c for c in run_doctor(migrated_engine).checks if c.name == "lot ledger"]
    assert check.status == "warn" and "drift +3" in check.problems[0]


def test_migrate_again_keeps_the_stock_triggers(stock: Clinic, migrated_engine: Engine) -> None:
    from aesthetic_inventory.install.service import migrate
    from aesthetic_inventory.stock.triggers import TRIGGERS

    migrate(migrated_engine)
    with migrated_engine.connect() as conn:
        names = {r[0] for r in conn.execute(text(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE()"))}
    assert {t.name for t in TRIGGERS} <= names
