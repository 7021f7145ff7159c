"""`stock` and `recall` on the fixture schema: usable vs expired (zero dates too),
destroyed lots, unavailable warehouses, status, cover; recall by lot with the
column's collation, returns and deleted lines netted out; read-only."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.errors import InvalidInputError
from aesthetic_inventory.reports import service
from aesthetic_inventory.unit_of_work import UnitOfWork
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy.exc import DBAPIError

TODAY = date.today()


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def stocked(clinic: Clinic) -> dict[str, int]:
    clinic.add_warehouse("quarantine", 120)  # seq > 99: not available
    botox = clinic.add_drug("Botox", reorder_point=12)
    empty = clinic.add_drug("Filler", reorder_point=2)
    plenty = clinic.add_drug("Peel")
    ok = clinic.add_lot(botox, 10, expiration=TODAY + timedelta(days=40), lot_number="B-OK")
    clinic.add_lot(botox, 2, expiration=None, lot_number="B-NOEXP")
    clinic.add_lot(botox, 5, expiration=TODAY - timedelta(days=3), lot_number="B-OLD")
    clinic.add_lot(botox, 5, expiration=TODAY, lot_number="B-TODAY")  # expires today: expired
    zero = clinic.add_lot(botox, 3, expiration=None, lot_number="B-ZERO")
    clinic.php("UPDATE drug_inventory SET expiration = '0000-00-00' WHERE inventory_id = :i",
               {"i": zero})
    clinic.add_lot(botox, 4, lot_number="B-GONE", destroyed=True)
    clinic.add_lot(botox, 7, lot_number="B-QUAR", warehouse="quarantine")
    clinic.add_lot(plenty, 50, lot_number="P-1")
    # 18 units sold to patients in the last 90 days, 6 returned; one older sale
    clinic.add_sale(botox, ok, 0, sale_date=TODAY - timedelta(days=10), pid=1, encounter=1,
                    adjust_lot=False)
    clinic.add_sale(plenty, clinic.scalar("SELECT MAX(inventory_id) FROM drug_inventory"), 18,
                    sale_date=TODAY - timedelta(days=5), pid=1, encounter=1)
    clinic.add_sale(plenty, clinic.scalar("SELECT MAX(inventory_id) FROM drug_inventory"), -6,
                    sale_date=TODAY - timedelta(days=4), pid=1, encounter=1, trans_type=3)
    clinic.add_sale(plenty, clinic.scalar("SELECT MAX(inventory_id) FROM drug_inventory"), 9,
                    sale_date=TODAY - timedelta(days=200), pid=2, encounter=2)
    return {"botox": botox, "empty": empty, "plenty": plenty, "zero": zero}


def test_stock_levels_status_and_cover(clinic: Clinic, stocked: dict[str, int]) -> None:
    with service.read_only(clinic.engine) as repo:
        rows = {r.name: r for r in service.stock_rows(repo, today=TODAY)}
    botox = rows["Botox"]
    # usable: 10 (future) + 2 (no expiry); expired: 5 + 5 (today) + 3 (zero date)
    assert (botox.usable, botox.expired) == (12, 13)
    assert botox.status == "LOW" and botox.reorder_point == 12
    assert rows["Filler"].usable == 0 and rows["Filler"].status == "OUT_OF_STOCK"
    peel = rows["Peel"]
    assert peel.usable == 50 - 18 + 6 - 9 and peel.status == "OK"
    assert peel.used_90d == 12  # the 200-day-old sale is outside the window
    assert peel.days_of_cover == round(29 / (12 / 90), 1)


def test_stock_lots_never_crash_on_zero_dates(migrated_db_url: str, stocked: dict[str, int]
                                              ) -> None:
    code, out, err = run(migrated_db_url, "stock", "--product", "Botox", "--lots", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [p["name"] for p in data["products"]] == ["Botox"]
    lots = {lot["lot_number"]: lot for lot in data["lots"]}
    assert "B-GONE" not in lots  # destroyed
    assert lots["B-ZERO"]["expiration"] is None and lots["B-ZERO"]["on_hand"] == 3
    assert lots["B-OK"]["days_left"] == 40
    assert lots["B-QUAR"]["warehouse"] == "quarantine"
    code, out, _ = run(migrated_db_url, "stock", "--format", "csv")
    assert out.splitlines()[0].startswith("ID,Product,Usable,Expired")
    assert any(line.startswith(f"{stocked['botox']},Botox,12,13,12,LOW")
               for line in out.splitlines())
    code, out, _ = run(migrated_db_url, "stock", "--warehouse", "quarantine", "--json")
    botox = next(p for p in json.loads(out)["products"] if p["name"] == "Botox")
    assert botox["usable"] == 0  # stock in an unavailable warehouse is not usable


def test_stock_unknown_product_is_one_line_exit_1(migrated_db_url: str,
                                                   stocked: dict[str, int]) -> None:
    code, out, err = run(migrated_db_url, "stock", "--product", "Nope")
    assert code == 1 and err.strip() == "Error: no product 'Nope' (give a drug id or an exact name)"
    code, out, err = run(migrated_db_url, "stock", "--warehouse", "attic")
    assert code == 1 and "no warehouse 'attic'" in err


def _visit_with_line(clinic: Clinic, pid: int, enc: int, code: str, units: int,
                     provider: int = 0) -> int:
    clinic.add_visit(pid, enc, TODAY - timedelta(days=1), provider_id=provider)
    return clinic.add_line(pid, enc, code, units)


def _reconcile(clinic: Clinic, pid: int, enc: int) -> None:
    reconcile_visit(UnitOfWork(clinic.engine), pid, enc, service_username="tester")


@pytest.fixture
def recall_clinic(clinic: Clinic) -> dict[str, int]:
    botox = clinic.add_drug("Botox 100U", allow_combining=0)
    filler = clinic.add_drug("Filler 1mL")
    lot = clinic.add_lot(botox, 20, lot_number="BTX-24A117", expiration=date(2030, 1, 1))
    other = clinic.add_lot(filler, 20, lot_number="ÉCLAT-01", expiration=date(2030, 1, 1))
    clinic.add_mapping("15828", botox, "2")
    clinic.add_mapping("11950", filler, "1")
    doc = clinic.add_provider("drsmith", "Anna", "Smith")
    clinic.add_patient(101, "Maria", "Lopez", dob=date(1985, 4, 2), phone_cell="555-0101",
                       email="maria@example.org")
    clinic.add_patient(102, "John", "Doe", dob=date(1979, 1, 30), phone_home="555-0102")
    clinic.add_patient(103, "Zoë", "Ång")
    _visit_with_line(clinic, 101, 1, "15828", 2, doc)   # 4 units of BTX
    line = _visit_with_line(clinic, 102, 2, "15828", 1, doc)
    _visit_with_line(clinic, 103, 3, "11950", 3, doc)   # filler only
    for pid, enc in ((101, 1), (102, 2), (103, 3)):
        _reconcile(clinic, pid, enc)
    # patient 102's line is deleted in the fee sheet: the reconcile gives the stock back
    clinic.execute("UPDATE billing SET activity = 0 WHERE id = :i", {"i": line})
    _reconcile(clinic, 102, 2)
    # patient 103 bought 2 units of the lot at the desk and returned them (OpenEMR rows)
    clinic.add_sale(botox, lot, 2, sale_date=TODAY, pid=103, encounter=3)
    clinic.add_sale(botox, lot, -2, sale_date=TODAY, pid=103, encounter=3, trans_type=3)
    return {"botox": botox, "filler": filler, "lot": lot, "other": other, "doc": doc}


def test_recall_by_lot_lists_who_kept_units(migrated_db_url: str, clinic: Clinic,
                                            recall_clinic: dict[str, int]) -> None:
    # the column's collation decides (utf8mb4_general_ci): case does not matter
    code, out, err = run(migrated_db_url, "recall", "--lot", "btx-24a117", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert [(p["pid"], p["units"]) for p in data["patients"]] == [(101, 4)]
    maria = data["patients"][0]
    assert maria["name"] == "Maria Lopez" and maria["dob"] == "1985-04-02"
    assert maria["phone"] == "555-0101" and maria["email"] == "maria@example.org"
    assert maria["provider"] == "Anna Smith" and maria["encounter"] == 1
    assert maria["lot_number"] == "BTX-24A117"
    assert data["units_given"] == 4 and data["units_on_hand"] == 16
    assert data["lots"] == [{"inventory_id": recall_clinic["lot"], "product": "Botox 100U",
                             "warehouse": "On Site", "expiration": "2030-01-01",
                             "on_hand": 16, "destroyed": False}]
    code, out, _ = run(migrated_db_url, "recall", "--lot", "BTX-24A117")
    assert "Maria Lopez" in out and "John Doe" not in out and "Ång" not in out


def test_recall_non_ascii_lot_and_patient(migrated_db_url: str,
                                          recall_clinic: dict[str, int]) -> None:
    # general_ci folds accents: 'eclat-01' is the same lot number as 'ÉCLAT-01'
    code, out, err = run(migrated_db_url, "recall", "--lot", "eclat-01", "--format", "csv")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1].startswith("PID,Patient,DOB")
    assert lines[2].startswith("103,Zoë Ång,,") and ",3,Anna Smith,Filler 1mL,ÉCLAT-01" in lines[2]
    code, out, err = run(migrated_db_url, "recall", "--patient", "101", "--json")
    data = json.loads(out)
    assert [(r["product"], r["lot_number"], r["units"]) for r in data["lots"]] == [
        ("Botox 100U", "BTX-24A117", 4)]
    code, out, _ = run(migrated_db_url, "recall", "--patient", "102", "--json")
    assert json.loads(out)["lots"] == []


def test_recall_bad_input(migrated_db_url: str, recall_clinic: dict[str, int]) -> None:
    code, _, err = run(migrated_db_url, "recall", "--lot", "NOPE-1")
    assert code == 1 and "no lot numbered 'NOPE-1'" in err
    code, _, err = run(migrated_db_url, "recall", "--patient", "999")
    assert code == 1 and err.strip() == "Error: no patient with pid 999"
    code, _, err = run(migrated_db_url, "recall")
    assert code == 2
    code, _, err = run(migrated_db_url, "recall", "--lot", "BTX-24A117", "--product", "Filler 1mL")
    assert code == 1 and "for product 'Filler 1mL'" in err


def test_read_only_transaction_refuses_writes(clinic: Clinic) -> None:
    with service.read_only(clinic.engine) as repo, pytest.raises(DBAPIError) as info:
        repo.conn.exec_driver_sql("INSERT INTO drugs (name) VALUES ('x')")
    assert "READ ONLY" in str(info.value).upper()
    assert clinic.scalar("SELECT COUNT(*) FROM drugs WHERE name = 'x'") == 0
    with pytest.raises(InvalidInputError), service.read_only(clinic.engine) as repo:
        service.recall_patient(repo, 12345)


def test_views_refuse_a_database_without_the_module(fixture_db_url: str) -> None:
    code, _, err = run(fixture_db_url, "stock")
    assert code == 1
    assert "run 'aesthetic-inventory migrate' first" in err and len(err.splitlines()) == 1


def test_report_output_file_is_written_whole(migrated_db_url: str, stocked: dict[str, int],
                                             tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "stock.csv"
    code, out, err = run(migrated_db_url, "report", "stock", "--format", "csv", "--output",
                         str(target))
    assert code == 0 and out == "" and err.strip() == f"wrote {target}"
    assert target.read_text(encoding="utf-8").splitlines()[0].startswith("ID,Product,Usable")
    assert not (tmp_path / "stock.csv.partial").exists()
    code, _, err = run(migrated_db_url, "report", "stock", "--output",
                       str(tmp_path / "missing" / "x.txt"))
    assert code == 1 and err.startswith("Error: cannot write")
