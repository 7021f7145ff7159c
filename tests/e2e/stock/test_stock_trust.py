"""Issue 17 D and F on the REAL OpenEMR schema, through the CLI: formula-safe CSV
exports, receipts that cannot re-date a lot or overflow a column, strict input, one
definition of usable stock, one cost fallback, totals that agree to the cent, and every
report in every format."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.stock.repository import StockRepository
from aesthetic_inventory.stock.usable import is_usable, usable_sql, warehouse_join_sql
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e
LATER = (date.today() + timedelta(days=300)).isoformat()
OTHER = (date.today() + timedelta(days=400)).isoformat()
FORMULA = re.compile(r"^[=+\-@\t\r]")
NUMBER = re.compile(r"^[+-]?[0-9]+(\.[0-9]+)?$")


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[tuple[str, Engine]]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    clinic = Clinic(engine)
    clinic.add_warehouse("annex", 10)
    clinic.add_warehouse("quarantine", 100)  # seq above 99: not available (sellDrug)
    yield openemr_db_url, engine
    engine.dispose()


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    return result.exit_code, result.stdout, result.stderr


def ok(url: str, *args: str) -> str:
    code, out, err = run(url, *args)
    assert code == 0, err + out
    return out


def _counts(clinic: Clinic) -> tuple[Any, ...]:
    return tuple(clinic.scalar(f"SELECT COUNT(*) FROM {t}") for t in (
        "drug_inventory", "drug_sales", "aesthetic_inventory_stock_ledger",
        "aesthetic_inventory_delivery"))


# -- D: CSV exports ---------------------------------------------------------------------

def test_csv_exports_escape_formula_cells(oe: tuple[str, Engine], tmp_path: Path) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("=HYPERLINK(\"http://x\")")
    clinic.execute("UPDATE drugs SET reorder_point = 50 WHERE drug_id = :d", {"d": drug})
    ok(url, "receive", "--product", str(drug), "--lot", "@SUM(A1)", "--expires",
       (date.today() + timedelta(days=10)).isoformat(), "--quantity", "4", "--unit-cost",
       "2.50", "--supplier", "+cmd|' /C calc'!A0", "--invoice", "-2+3")
    [inv] = [r[0] for r in clinic.rows(
        "SELECT inventory_id FROM drug_inventory WHERE drug_id = :d", {"d": drug})]
    ok(url, "adjust", "--lot", str(inv), "--by", "-1", "--reason", "DAMAGED",
       "--notes", "=1+1")
    exports = {
        "ledger": ok(url, "ledger", "--format", "csv"),
        "stock --lots": ok(url, "stock", "--lots", "--format", "csv"),
        "report expiring": ok(url, "report", "expiring", "--format", "csv"),
        "report all": ok(url, "report", "all", "--format", "csv"),
        "valuation": ok(url, "valuation", "--format", "csv"),
        "reorder": ok(url, "reorder", "--all", "--format", "csv"),
    }
    for name, export in exports.items():
        cells = [c for row in csv.reader(io.StringIO(export)) for c in row]
        risky = [c for c in cells if FORMULA.match(c) and not NUMBER.match(c)]
        assert risky == [], (name, risky)
    assert "'@SUM(A1)" in exports["ledger"] and "'=1+1" in exports["ledger"]
    assert "'=HYPERLINK" in exports["valuation"] and "'@SUM(A1)" in exports["stock --lots"]
    assert ",-1," in exports["ledger"]  # a negative quantity stays a number


# -- D: receipts ------------------------------------------------------------------------

def test_receive_refuses_a_known_lot_with_another_expiry(oe: tuple[str, Engine],
                                                         tmp_path: Path) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("Expiry Probe")
    ok(url, "receive", "--product", str(drug), "--lot", "EXP-1", "--expires", LATER,
       "--quantity", "5", "--unit-cost", "10")
    before = _counts(clinic)
    code, out, err = run(url, "receive", "--product", str(drug), "--lot", "exp-1",
                         "--expires", OTHER, "--quantity", "5", "--unit-cost", "10",
                         "--warehouse", "annex")
    assert code == 1 and err.strip().startswith(
        f"Error: --expires: lot exp-1 expires {LATER} (lot "), err
    assert "a lot number has one expiry" in err and _counts(clinic) == before
    delivery = tmp_path / "d.csv"
    delivery.write_text(
        "product,lot,expires,quantity,unit_cost\n"
        f"{drug},EXP-1,{OTHER},1,10\n"
        f"{drug},NEW-7,{LATER},1,10\n"
        f"{drug},new-7,{OTHER},1,10\n", encoding="utf-8")
    code, out, err = run(url, "receive", "--file", str(delivery))
    assert code == 1, out
    assert f"line 2, column expires: lot EXP-1 expires {LATER}" in err
    assert f"line 4, column expires: lot new-7 expires {LATER} (line 3), not {OTHER}" in err
    assert "line 3" not in err.replace("(line 3)", "") and _counts(clinic) == before
    assert clinic.scalar("SELECT expiration FROM drug_inventory WHERE lot_number = 'EXP-1'"
                         ).isoformat() == LATER


def test_receive_file_reports_values_the_columns_cannot_hold(oe: tuple[str, Engine],
                                                             tmp_path: Path) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("Overflow Probe")
    before = _counts(clinic)
    delivery = tmp_path / "big.csv"
    delivery.write_text(
        "product,lot,expires,quantity,unit_cost,packages,units_per_package\n"
        f"{drug},Q-1,{LATER},1000000000000,1,,\n"
        f"{drug},S-1,{LATER},2000000000,0,,\n"
        f"{drug},S-1,{LATER},2000000000,0,,\n"
        f"{drug},C-1,{LATER},1,100000000000,,\n"
        f"{drug},C-2,{LATER},1,1e308,,\n"
        f"{drug},P-1,{LATER},,1,2147483647,2\n"
        f"{drug},T-1,{LATER},3,9999999999,,\n", encoding="utf-8")
    code, out, err = run(url, "receive", "--file", str(delivery))
    assert code == 1 and "unexpected error" not in err + out, err
    for expected in (
        "line 2, column quantity: 1000000000000 is too large (at most 2147483647)",
        "line 4, column quantity: lot S-1 would hold 4000000000 units (at most 2147483647)",
        "line 5, column unit_cost: 100000000000 is too large (at most 9999999999.99)",
        "line 6, column unit_cost: expected a number such as 12.50, got '1e308'",
        "line 7, column packages: 2147483647 x 2 = 4294967294 units is too large",
        "line 8, column unit_cost: 3 x 9999999999 = 29999999997.00 is too large for one line",
    ):
        assert expected in err, (expected, err)
    assert _counts(clinic) == before


@pytest.mark.parametrize(("csv_text", "needle"), [
    ("product,lot,lot,expires,unit_cost,quantity\n", "line 1, column lot: duplicate column"),
    ("product,lot,expires,unit_cost,quantity\n{d},\"L\n1\",{x},1,1\n",
     "column lot: contains a control character: 'L\\n1'"),
    ("product,lot,expires,unit_cost,quantity\n{d},L\x071,{x},1,1\n",
     "column lot: contains a control character"),
    ("product,lot,expires,unit_cost,quantity\n{d},L-1,{x},1,\u0661\u0662\n",
     "column quantity: expected a whole number, got '\u0661\u0662'"),
    ("product,lot,expires,unit_cost,quantity\n{d},L-1,{x},\uff11,1\n",
     "column unit_cost: expected a number such as 12.50"),
    ("product,lot,expires,unit_cost,quantity\n\u0661,L-1,{x},1,1\n",
     "column product: no product named '\u0661'"),
])
def test_receive_file_refuses_malformed_input(oe: tuple[str, Engine], tmp_path: Path,
                                              csv_text: str, needle: str) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("Input Probe")
    before = _counts(clinic)
    path = tmp_path / "in.csv"
    path.write_text(csv_text.format(d=drug, x=LATER) + f"{drug},OK-1,{LATER},1,1\n",
                    encoding="utf-8")
    code, out, err = run(url, "receive", "--file", str(path))
    assert code == 1 and needle in err and "unexpected error" not in err, err
    assert _counts(clinic) == before


def test_count_refuses_non_ascii_digits(oe: tuple[str, Engine], tmp_path: Path) -> None:
    url, _ = oe
    path = tmp_path / "count.csv"
    path.write_text("lot_id,counted\n\uff11,\u0663\n", encoding="utf-8")
    code, out, err = run(url, "count", "--file", str(path))
    assert code == 1 and "column lot_id: expected a whole number" in err, err


# -- F: one usable stock, one cost, totals that agree -----------------------------------

def test_usable_stock_is_one_number_everywhere(oe: tuple[str, Engine]) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("Usable Probe")
    clinic.add_lot(drug, 50, expiration=LATER)
    clinic.add_lot(drug, 3, expiration=date.today())  # expires today: expired
    clinic.add_lot(drug, 4, expiration=LATER, warehouse="quarantine")  # unavailable
    clinic.add_lot(drug, 2, expiration="0000-00-00")  # OpenEMR's blank expiry
    clinic.add_lot(drug, 6, expiration=LATER, destroyed=True)
    stock = json.loads(ok(url, "stock", "--product", str(drug), "--format", "json"))
    [row] = stock["products"]
    reorder = json.loads(ok(url, "reorder", "--all", "--format", "json"))
    [suggestion] = [s for s in reorder["suggestions"] if s["drug_id"] == drug]
    with engine.connect() as conn:
        usable = StockRepository(conn).usable_stock([drug], date.today())
        lots = conn.execute(text(
            f"SELECT di.destroy_date IS NOT NULL, di.on_hand, CAST(di.expiration AS CHAR), "
            f"lo.seq, {usable_sql()} FROM drug_inventory di {warehouse_join_sql()} "
            "WHERE di.drug_id = :d"), {"d": drug, "today": date.today()}).all()
    assert (row["usable"], suggestion["on_hand_and_on_order"], usable[drug]) == (50, 50, 50)
    # the Python twin agrees with the SQL lot by lot (the zero date included)
    assert [is_usable(destroyed=bool(r[0]), on_hand=r[1], expiration=r[2], warehouse_seq=r[3],
                      today=date.today()) for r in lots] == [bool(r[4]) for r in lots]
    assert sum(bool(r[4]) for r in lots) == 1


def test_a_zero_lot_cost_falls_back_the_same_way_everywhere(oe: tuple[str, Engine]) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("Cost Probe")
    clinic.execute("UPDATE drugs SET unit_cost = 7.00 WHERE drug_id = :d", {"d": drug})
    ok(url, "receive", "--product", str(drug), "--lot", "PAID-1", "--expires", LATER,
       "--quantity", "10", "--unit-cost", "12.00")
    # a lot entered on OpenEMR's own lot screen: unit_cost stays 0
    screen = clinic.add_lot(drug, 5, expiration=(date.today() + timedelta(days=5)),
                            lot_number="SCREEN-1")
    with engine.begin() as conn:  # a fee-sheet issue from it: the engine's AUTO_PROC row
        sale = conn.execute(text(
            "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, "
            "quantity, fee, selector, trans_type) "
            "VALUES (:d, :i, 1, 1, CURDATE(), 1, 0, 'AUTO_PROC:1', 1)"), {"d": drug, "i": screen})
        # and its ledger row, as the engine writes it
        ConsumptionRepository(conn).ledger_issues(1, 1, int(sale.lastrowid), 1)
    clinic.execute("UPDATE drug_inventory SET on_hand = 4 WHERE inventory_id = :i",
                   {"i": screen})
    ok(url, "adjust", "--lot", str(screen), "--by", "-1", "--reason", "DAMAGED")
    ledger = json.loads(ok(url, "ledger", "--lot", str(screen), "--format", "json"))
    assert [(m["movement"], m["unit_cost"]) for m in ledger["movements"]] == [
        ("ISSUE", "12.0000"), ("ADJUST", "12.0000")]
    lines = {x["product"]: x
             for x in json.loads(ok(url, "valuation", "--format", "json"))["lines"]}
    mine = lines[f"Cost Probe (#{drug})"]
    assert (mine["value_at_lot_cost"], mine["value_at_average"]) == (156.0, 156.0)
    expiring = json.loads(ok(url, "report", "expiring", "--format", "json"))
    [lot] = [x for x in expiring["lots"] if x["lot_number"] == "SCREEN-1"]
    assert lot["unit_cost"] == "12.00"


def test_valuation_totals_agree_to_the_cent_in_every_grouping(oe: tuple[str, Engine]) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    for n in range(3):
        drug = clinic.add_drug(f"Cent Probe {n}")
        for warehouse in ("onsite", "annex"):
            ok(url, "receive", "--product", str(drug), "--lot", f"C{n}-{warehouse}",
               "--expires", LATER, "--quantity", "1", "--unit-cost", "0.005",
               "--warehouse", warehouse)
    totals = {}
    for by in ("product", "warehouse", "category"):
        doc = json.loads(ok(url, "valuation", "--by", by, "--format", "json"))
        lines = doc["lines"]
        assert sum(Decimal(str(x["value_at_average"])) for x in lines) == Decimal(
            str(doc["total_at_average"]))
        totals[by] = (doc["total_units"], doc["total_at_average"], doc["total_at_lot_cost"])
        shown = ok(url, "valuation", "--by", by)
        assert shown.splitlines()[-1].split()[-2:] == [
            f"{Decimal(str(totals[by][1])):,.2f}", f"{Decimal(str(totals[by][2])):,.2f}"]
    assert totals["product"] == totals["warehouse"] == totals["category"]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


def test_every_report_takes_every_format_and_output(oe: tuple[str, Engine],
                                                    tmp_path: Path) -> None:
    url, _ = oe
    doc = json.loads(ok(url, "report", "all", "--format", "json"),
                     object_pairs_hook=_no_duplicates)
    assert {"stock_products", "activity_products", "expiring_lots"} <= set(doc)
    commands = [["stock"], ["ledger"], ["valuation"], ["reorder"], ["report", "valuation"],
                ["report", "variance"], *[["report", k] for k in (
                    "stock", "expiring", "activity", "usage", "shortages", "all")]]
    for command in commands:
        for fmt in ("text", "csv", "json", "html"):
            target = tmp_path / f"{'-'.join(command)}.{fmt}"
            code, out, err = run(url, *command, "--format", fmt, "--output", str(target))
            assert code == 0 and f"wrote {target}" in err, (command, fmt, err + out)
            body = target.read_text(encoding="utf-8")
            if fmt == "json":
                json.loads(body, object_pairs_hook=_no_duplicates)
            elif fmt == "html":
                assert body.lstrip().lower().startswith("<!doctype html"), command
            else:
                assert body.strip(), (command, fmt)


def test_adjust_past_int_max_is_a_clear_refusal(oe: tuple[str, Engine]) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    lot = clinic.add_lot(clinic.add_drug("Adjust Probe"), 5, expiration=LATER)
    before = _counts(clinic)
    code, out, err = run(url, "adjust", "--lot", str(lot), "--by", "2147483647",
                         "--reason", "FOUND")
    assert code == 1 and err.strip() == (
        f"Error: lot {lot} holds 5; adjusting by 2147483647 would pass 2147483647 units"), err
    assert _counts(clinic) == before and clinic.on_hand(lot) == 5


def test_receive_adds_to_a_lot_with_its_own_expiry_when_warehouses_disagree(
        oe: tuple[str, Engine]) -> None:
    """OpenEMR's lot screen lets the same number carry two expiries in two warehouses:
    each lot is topped up with its own expiry; a new lot must match one of them."""
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("Split Probe")
    onsite = clinic.add_lot(drug, 2, expiration=LATER, lot_number="SPLIT-1")
    annex = clinic.add_lot(drug, 2, expiration=OTHER, lot_number="SPLIT-1", warehouse="annex")
    ok(url, "receive", "--product", str(drug), "--lot", "SPLIT-1", "--expires", OTHER,
       "--quantity", "3", "--unit-cost", "1", "--warehouse", "annex")
    code, _, err = run(url, "receive", "--product", str(drug), "--lot", "SPLIT-1",
                       "--expires", OTHER, "--quantity", "3", "--unit-cost", "1")
    assert code == 1 and f"expires {LATER} (lot {onsite} holds it)" in err, err
    assert (clinic.on_hand(onsite), clinic.on_hand(annex)) == (2, 5)
