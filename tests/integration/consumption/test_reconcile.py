"""Reconcile on real MariaDB: take, re-save, edit, delete, billed rows, shortages."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import dbtools
import pytest
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.errors import UnknownVisitError
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import VISIT_DATE, Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

SERVICE = "aesthetic-inventory"


def reconcile(engine: Engine, pid: int = 1, enc: int = 100, **kw):  # type: ignore[no-untyped-def]
    return reconcile_visit(UnitOfWork(engine), pid, enc, service_username=SERVICE, **kw)


@pytest.fixture
def botox(clinic: Clinic) -> dict[str, int]:
    drug = clinic.add_drug("Botox", allow_combining=1)
    ids = {
        "drug": drug,
        "late": clinic.add_lot(drug, 10, expiration=date(2027, 6, 1), lot_number="B2"),
        "early": clinic.add_lot(drug, 3, expiration=date(2026, 12, 1), lot_number="B1"),
        "mapping": clinic.add_mapping("15828", drug),
    }
    clinic.add_visit(1, 100)
    return ids


def test_first_save_takes_first_expired_lot_first_with_spec_rows(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    admin = clinic.add_user("drsmith")
    clinic.add_line(1, 100, "15828", 5, user=admin)
    result = reconcile(migrated_engine)
    assert result.changed
    assert clinic.on_hand(botox["early"]) == 0
    assert clinic.on_hand(botox["late"]) == 8
    sel = f"AUTO_PROC:{botox['mapping']}"
    assert clinic.auto_rows(1, 100) == [
        (sel, botox["early"], 3, "drsmith", VISIT_DATE, Decimal("0.00"), 1, 0),
        (sel, botox["late"], 2, "drsmith", VISIT_DATE, Decimal("0.00"), 1, 0),
    ]
    (line,) = result.lines
    assert (line.required, line.allocated, line.shortage, line.added) == (5, 5, 0, 5)
    assert [m.lot_number for m in line.lots] == ["B1", "B2"]
    assert set(clinic.ledgers().values()) == {0}


def test_line_without_user_is_sold_as_service_user(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    clinic.add_line(1, 100, "15828", 1)
    reconcile(migrated_engine)
    assert clinic.auto_rows(1, 100)[0][3] == SERVICE


def test_unchanged_resave_writes_nothing(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    clinic.add_line(1, 100, "15828", 4)
    reconcile(migrated_engine)
    before = clinic.auto_rows(1, 100)
    with dbtools.count_statements(migrated_engine) as log:
        result = reconcile(migrated_engine)
    assert log.writes == []
    assert result.writes == 0 and not result.changed
    assert clinic.auto_rows(1, 100) == before


def test_units_edit_up_takes_only_the_difference_and_down_returns_newest_first(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    line = clinic.add_line(1, 100, "15828", 2)
    reconcile(migrated_engine)
    clinic.execute("UPDATE billing SET units = 6 WHERE id = :i", {"i": line})
    result = reconcile(migrated_engine)
    assert result.lines[0].added == 4 and result.lines[0].returned == 0
    assert clinic.held(1, 100) == 6
    assert (clinic.on_hand(botox["early"]), clinic.on_hand(botox["late"])) == (0, 7)
    clinic.execute("UPDATE billing SET units = 1 WHERE id = :i", {"i": line})
    result = reconcile(migrated_engine)
    assert result.lines[0].returned == 5
    # newest sale first: the 3 from the late lot go back, then 2 of the early lot's rows
    assert (clinic.on_hand(botox["early"]), clinic.on_hand(botox["late"])) == (2, 10)
    assert [r[1:3] for r in clinic.auto_rows(1, 100)] == [(botox["early"], 1)]
    assert set(clinic.ledgers().values()) == {0}


def test_line_delete_activity_zero_returns_stock(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    line = clinic.add_line(1, 100, "15828", 5)
    reconcile(migrated_engine)
    clinic.execute("UPDATE billing SET activity = 0 WHERE id = :i", {"i": line})
    result = reconcile(migrated_engine)
    assert result.lines[0].returned == 5
    assert clinic.auto_rows(1, 100) == []
    assert (clinic.on_hand(botox["early"]), clinic.on_hand(botox["late"])) == (3, 10)
    assert clinic.usage(1, 100) == [(botox["mapping"], Decimal("0.0000"), 0, 0, 0)]


def test_mapping_delete_returns_stock(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    clinic.add_line(1, 100, "15828", 2)
    reconcile(migrated_engine)
    clinic.execute("DELETE FROM procedure_products WHERE id = :i", {"i": botox["mapping"]})
    result = reconcile(migrated_engine)
    assert result.changed and result.lines[0].returned == 2
    assert clinic.auto_rows(1, 100) == []
    assert clinic.on_hand(botox["early"]) == 3
    assert set(clinic.ledgers().values()) == {0}


def test_billed_rows_are_frozen(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    line = clinic.add_line(1, 100, "15828", 3)
    reconcile(migrated_engine)
    clinic.execute("UPDATE drug_sales SET billed = 1 WHERE selector LIKE 'AUTO_PROC:%'")
    clinic.execute("UPDATE billing SET units = 1 WHERE id = :i", {"i": line})
    result = reconcile(migrated_engine)
    assert not result.changed
    assert [r[2] for r in clinic.auto_rows(1, 100)] == [3]
    clinic.execute("UPDATE billing SET units = 5 WHERE id = :i", {"i": line})
    reconcile(migrated_engine)
    rows = clinic.auto_rows(1, 100)
    assert [(r[2], r[7]) for r in rows] == [(3, 1), (2, 0)]


def test_fractional_quantity_rounds_up_and_keeps_planned(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler")
    lot = clinic.add_lot(drug, 10)
    mapping = clinic.add_mapping("11950", drug, "0.3")
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "11950", 2)
    clinic.add_line(1, 100, "11950", 3)
    result = reconcile(migrated_engine)
    assert result.lines[0].required == 2  # 5 x 0.3 = 1.5 -> 2
    assert clinic.on_hand(lot) == 8
    assert clinic.usage(1, 100) == [(mapping, Decimal("1.5000"), 2, 2, 0)]


def test_shortage_is_recorded_then_backfilled_when_stock_arrives(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Peel", allow_combining=0)
    small = clinic.add_lot(drug, 2, lot_number="P1")
    mapping = clinic.add_mapping("15788", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15788", 4)
    result = reconcile(migrated_engine)
    # no single lot covers 4 and combining is not allowed: nothing taken
    assert result.lines[0].shortage == 4 and clinic.on_hand(small) == 2
    assert clinic.usage(1, 100) == [(mapping, Decimal("4.0000"), 4, 0, 4)]
    big = clinic.add_lot(drug, 10, lot_number="P2")
    result = reconcile(migrated_engine)
    assert result.lines[0].shortage == 0 and result.lines[0].added == 4
    assert clinic.on_hand(big) == 6 and clinic.on_hand(small) == 2
    assert clinic.usage(1, 100) == [(mapping, Decimal("4.0000"), 4, 4, 0)]


def test_partial_fill_with_combining_then_backfill(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    clinic.add_line(1, 100, "15828", 20)
    result = reconcile(migrated_engine)
    assert (result.lines[0].allocated, result.lines[0].shortage) == (13, 7)
    clinic.receive(botox["late"], 10)
    result = reconcile(migrated_engine)
    assert (result.lines[0].allocated, result.lines[0].shortage) == (20, 0)
    assert clinic.on_hand(botox["late"]) == 3
    assert set(clinic.ledgers().values()) == {0}


def test_non_dispensable_product_gets_one_row_without_lot(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Outside pharmacy", dispensable=0)
    lot = clinic.add_lot(drug, 5)
    clinic.add_mapping("99999", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "99999", 2)
    reconcile(migrated_engine)
    assert [r[1:3] for r in clinic.auto_rows(1, 100)] == [(0, 2)]
    assert clinic.on_hand(lot) == 5


def test_default_warehouse_of_the_line_user_comes_first(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    clinic.add_warehouse("annex", 50)
    drug = clinic.add_drug("Botox")
    onsite = clinic.add_lot(drug, 5, expiration=date(2026, 5, 1))
    annex = clinic.add_lot(drug, 5, expiration=date(2027, 5, 1), warehouse="annex")
    clinic.add_mapping("15828", drug)
    nurse = clinic.add_user("nurse", default_warehouse="annex")
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 2, user=nurse)
    reconcile(migrated_engine)
    assert (clinic.on_hand(onsite), clinic.on_hand(annex)) == (5, 3)


def test_unknown_visit_is_an_error_and_changes_nothing(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int]
) -> None:
    clinic.add_line(1, 999, "15828", 2)
    with pytest.raises(UnknownVisitError, match="encounter 999"):
        reconcile(migrated_engine, 1, 999)
    assert clinic.auto_rows(1, 999) == []


def _python_failure(conn) -> None:  # type: ignore[no-untyped-def]
    raise RuntimeError("injected failure after the stock writes")


def _database_failure(conn) -> None:  # type: ignore[no-untyped-def]
    # a statement the server rejects (NOT NULL column) in the middle of the transaction
    conn.execute(text("INSERT INTO drug_sales (drug_id, sale_date) VALUES (NULL, NULL)"))


@pytest.mark.parametrize("failure", [_python_failure, _database_failure])
def test_failure_midway_rolls_back_and_ledgers_stay_balanced(
    clinic: Clinic, migrated_engine: Engine, botox: dict[str, int], failure
) -> None:  # type: ignore[no-untyped-def]
    clinic.add_line(1, 100, "15828", 7)
    ledgers = clinic.ledgers()
    stock = (clinic.on_hand(botox["early"]), clinic.on_hand(botox["late"]))
    sales = clinic.scalar("SELECT COUNT(*) FROM drug_sales")

    with pytest.raises((RuntimeError, DBAPIError)):
        reconcile(migrated_engine, after_writes=failure)
    assert clinic.ledgers() == ledgers and set(ledgers.values()) == {0}
    assert (clinic.on_hand(botox["early"]), clinic.on_hand(botox["late"])) == stock
    assert clinic.scalar("SELECT COUNT(*) FROM drug_sales") == sales
    assert clinic.auto_rows(1, 100) == [] and clinic.usage(1, 100) == []


def test_statement_count_is_the_same_for_one_and_ten_lines(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    counts = []
    for n, enc in ((1, 201), (10, 202)):
        clinic.add_visit(1, enc)
        for i in range(n):
            drug = clinic.add_drug(f"P{enc}-{i}", allow_combining=1)
            clinic.add_lot(drug, 1, lot_number="A")
            clinic.add_lot(drug, 5, lot_number="B")
            clinic.add_mapping(f"C{enc}{i}", drug)
            clinic.add_line(1, enc, f"C{enc}{i}", 3)
        with dbtools.count_statements(migrated_engine) as log:
            result = reconcile(migrated_engine, 1, enc)
        assert sum(m.allocated for m in result.lines) == 3 * n
        counts.append(log.count)
    print("statements per reconcile (1 line, 10 lines):", counts)
    assert counts[0] == counts[1], counts


def test_two_mappings_sharing_a_product_never_take_a_lot_twice(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Botox", allow_combining=1)
    lot = clinic.add_lot(drug, 3)
    clinic.add_mapping("15828", drug)
    clinic.add_mapping("64612", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 2)
    clinic.add_line(1, 100, "64612", 2)
    result = reconcile(migrated_engine)
    assert sorted((m.allocated, m.shortage) for m in result.lines) == [(1, 1), (2, 0)]
    assert clinic.on_hand(lot) == 0


def test_works_under_openemr_empty_sql_mode(clinic: Clinic, migrated_db_url: str) -> None:
    from aesthetic_inventory.db import create_db_engine

    engine = create_db_engine(
        migrated_db_url, connect_args={"init_command": "SET SESSION sql_mode = ''"}
    )
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar() == ""
        drug = clinic.add_drug("Filler")
        lot = clinic.add_lot(drug, 4)
        clinic.add_mapping("11950", drug, "1.5")
        clinic.add_visit(1, 100)
        line = clinic.add_line(1, 100, "11950", 1)
        assert reconcile(engine).lines[0].allocated == 2
        clinic.execute("UPDATE billing SET units = 2 WHERE id = :i", {"i": line})
        assert reconcile(engine).lines[0].allocated == 3
        assert clinic.on_hand(lot) == 1
    finally:
        engine.dispose()


def test_demo_fee_sheet_hook(migrated_engine: Engine) -> None:
    from aesthetic_inventory.consumption.demo import demo_fee_sheet, demo_fee_sheet_lines
    from aesthetic_inventory.install.service import load_sample

    load_sample(migrated_engine)
    result = demo_fee_sheet(migrated_engine, service_username=SERVICE)
    taken = {m.code: m.allocated for m in result.lines}
    assert taken == {"15828": 2, "11950": 1} and result.changed
    assert all(m.lots and m.lots[0].lot_number for m in result.lines)
    lines = demo_fee_sheet_lines(migrated_engine, service_username=SERVICE)
    assert lines[0].startswith("Saving a fee sheet") and "15828" in lines[0]
    assert any("Botox Cosmetic 100U" in line for line in lines)
    assert sum(line.strip().startswith("took ") for line in lines) == 2
