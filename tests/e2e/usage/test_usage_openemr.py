"""Issue 12's done-when scenario, end to end on the REAL OpenEMR schema through the CLI:
plan 1 vial, record 2 -> one more vial leaves the FEFO lot; record 0 -> the vials come
back; OpenEMR's fee sheet changes the AUTO_PROC line's quantity -> recorded as the
actual, not undone; ``usage show`` hides costs from Front Office and shows them to
Accounting; the history lists every change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.batch import drain_change_queue
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import load_sample, migrate
from click.testing import CliRunner, Result
from clinic import Clinic
from dbtools import uows
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e
SERVICE = "aesthetic-inventory"
PID, ENC = 812, 9120


# seed 003's permission matrix, for OpenEMR's default groups: (costs, may record)
ROLES = {
    "admin": (True, True),  # Administrators
    "doc": (False, True),  # Physicians
    "clin": (False, True),  # Clinicians (nurses, injectors)
    "front": (False, False),  # Front Office (receptionist)
    "back": (True, False),  # Accounting
}


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[tuple[Engine, str]]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    load_sample(engine)
    clinic = Clinic(engine)
    clinic.install_default_acl()  # as OpenEMR's installer builds it
    for group in ROLES:
        clinic.add_openemr_user(f"u_{group}", [group], password=None, password_hash="x")
    clinic.add_openemr_user("nurse1", ["clin"], password=None, password_hash="x")
    yield engine, openemr_db_url
    engine.dispose()


def php(engine: Engine, sql: str, params: dict | None = None) -> int:
    """A statement as OpenEMR's PHP runs it: empty sql_mode, not the module's session."""
    with engine.begin() as conn:
        conn.execute(text("SET SESSION sql_mode = '', @aesthetic_inventory_writer = NULL"))
        try:
            result = conn.execute(text(sql), params or {})
        finally:
            conn.execute(text("SET @aesthetic_inventory_writer = 1"))
        return int(result.lastrowid or 0)


def q(engine: Engine, sql: str, params: dict | None = None) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params or {})]


def cli(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["--database-url", url, *args])


def lot(engine: Engine, number: str) -> int:
    return int(q(engine, "SELECT on_hand FROM drug_inventory WHERE lot_number = :n",
                 {"n": number})[0][0])


def test_done_when_scenario(oe: tuple[Engine, str]) -> None:
    engine, url = oe
    # a second Botox lot expiring later: the sample lot BTX-24A117 is the FEFO one
    php(engine, "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) SELECT drug_id, 'BTX-LATER', :e, 4, 'onsite' FROM drugs "
                "WHERE name = 'Botox Cosmetic 100U'", {"e": date.today() + timedelta(days=600)})
    php(engine, "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, "
                "trans_type) SELECT drug_id, inventory_id, CURDATE(), -4, 2 "
                "FROM drug_inventory WHERE lot_number = 'BTX-LATER'")
    php(engine, "INSERT INTO form_encounter (date, reason, pid, encounter) "
                "VALUES (CURDATE(), 'usage e2e', :p, :e)", {"p": PID, "e": ENC})
    php(engine, "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
                "authorized, encounter, code_text, billed, activity, units, fee, modifier, "
                "justify, ndc_info, pricelevel, revenue_code) VALUES (NOW(), 'CPT4', '15828', "
                ":p, 1, NULL, 'Default', 1, :e, 'x', 0, 1, 1, 600.00, '', '', '', '', '')",
        {"p": PID, "e": ENC})
    drain_change_queue(uows(engine), service_username=SERVICE)  # plan: 1 vial
    assert (lot(engine, "BTX-24A117"), lot(engine, "BTX-LATER")) == (5, 4)

    two = cli(url, "usage", "record", "--pid", str(PID), "--encounter", str(ENC),
              "--code", "CPT4:15828", "--actual", "2", "--reason", "ADDITIONAL_USAGE",
              "--notes", "second vial for the masseters", "--user", "nurse1", "--json")
    assert two.exit_code == 0, two.output
    body = json.loads(two.output)
    assert body["stockAdjustments"][0]["adjustment"] == 1
    assert (lot(engine, "BTX-24A117"), lot(engine, "BTX-LATER")) == (4, 4)  # FEFO lot

    bad = cli(url, "usage", "record", "--pid", str(PID), "--encounter", str(ENC),
              "--code", "CPT4:15828", "--actual", "-1", "--user", "nurse1")
    assert bad.exit_code == 1 and bad.output.strip().count("\n") == 0
    assert "0 or more" in bad.output and "Traceback" not in bad.output

    zero = cli(url, "usage", "record", "--pid", str(PID), "--encounter", str(ENC),
               "--code", "CPT4:15828", "--actual", "0", "--reason", "LESS_THAN_PLANNED",
               "--user", "nurse1")
    assert zero.exit_code == 0, zero.output
    assert "gave back 2 unit(s)" in zero.output
    assert lot(engine, "BTX-24A117") == 6

    one = cli(url, "usage", "record", "--pid", str(PID), "--encounter", str(ENC),
              "--code", "CPT4:15828", "--actual", "1", "--user", "nurse1")
    assert one.exit_code == 0, one.output
    [(sale_id, qty, inv)] = q(engine, "SELECT sale_id, quantity, inventory_id FROM drug_sales "
                                      "WHERE pid = :p AND encounter = :e",
                              {"p": PID, "e": ENC})
    assert qty == 1

    # OpenEMR's FeeSheet::save for a changed product quantity (1 -> 3)
    php(engine, "UPDATE drug_sales SET quantity = 3 WHERE sale_id = :s", {"s": sale_id})
    php(engine, "UPDATE drug_inventory SET on_hand = on_hand - 2 WHERE inventory_id = :i",
        {"i": inv})
    drain_change_queue(uows(engine), service_username=SERVICE)
    again = cli(url, "consume", "--pid", str(PID), "--encounter", str(ENC))
    assert again.exit_code == 0, again.output
    assert q(engine, "SELECT SUM(quantity) FROM drug_sales WHERE pid = :p AND encounter = :e",
             {"p": PID, "e": ENC}) == [(3,)]  # not undone
    assert lot(engine, "BTX-24A117") == 3
    ledger = q(engine, "SELECT di.lot_number, di.on_hand + SUM(ds.quantity) FROM drug_inventory "
                       "di JOIN drug_sales ds ON ds.inventory_id = di.inventory_id "
                       "WHERE di.lot_number LIKE 'BTX%' GROUP BY di.inventory_id")
    assert {v for _, v in ledger} == {0}

    shown = cli(url, "usage", "show", "--pid", str(PID), "--encounter", str(ENC), "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.output)
    [m] = view["materials"]
    assert (m["plannedQuantity"], m["actualQuantity"], m["varianceQuantity"],
            m["varianceReason"], m["source"]) == ("1", "3", "2", "OTHER", "fee_sheet")
    assert m["notes"] == "edited on the fee sheet"
    assert m["unitPrice"] is None and view["totalActualCost"] is None  # no user: no costs
    history = [(h["oldActual"], h["newActual"], h["newReason"], h["source"])
               for h in view["history"]]
    assert history == [
        (None, "2", "ADDITIONAL_USAGE", "usage"),
        ("2", "0", "LESS_THAN_PLANNED", "usage"),
        ("0", "1", None, "usage"),
        ("1", "3", "OTHER", "fee_sheet"),
    ]
    text_view = cli(url, "usage", "show", "--pid", str(PID), "--encounter", str(ENC))
    assert "Botox Cosmetic 100U" in text_view.output and "history:" in text_view.output

    front = json.loads(cli(url, "usage", "show", "--pid", str(PID), "--encounter", str(ENC),
                           "--user", "u_front", "--json").output)
    acct = json.loads(cli(url, "usage", "show", "--pid", str(PID), "--encounter", str(ENC),
                          "--user", "u_back", "--json").output)
    assert front["materials"][0]["unitPrice"] is None and front["totalActualCost"] is None
    assert acct["materials"][0]["unitPrice"] == "420.00"
    assert (acct["totalPlannedCost"], acct["totalActualCost"], acct["costVariance"]) == (
        "420.00", "1260.00", "840.00")


@pytest.mark.parametrize("group", sorted(ROLES))
def test_permission_matrix_of_seed_003(oe: tuple[Engine, str], group: str) -> None:
    engine, url = oe
    costs, may_record = ROLES[group]
    shown = cli(url, "usage", "show", "--pid", str(PID), "--encounter", str(ENC),
                "--user", f"u_{group}", "--json")
    assert shown.exit_code == 0, shown.output
    view = json.loads(shown.output)
    assert view["costsVisible"] is costs
    assert (view["materials"][0]["totalActualCost"] is not None) is costs
    before = q(engine, "SELECT COUNT(*) FROM aesthetic_inventory_usage_history")
    # the same actual as recorded: an allowed user changes nothing, a refused one is told
    record = cli(url, "usage", "record", "--pid", str(PID), "--encounter", str(ENC),
                 "--code", "CPT4:15828", "--actual", "3", "--reason", "OTHER",
                 "--notes", "edited on the fee sheet", "--user", f"u_{group}")
    if may_record:
        assert record.exit_code == 0 and "[unchanged]" in record.output, record.output
    else:
        assert record.exit_code == 1 and "may not record usage" in record.output
    assert q(engine, "SELECT COUNT(*) FROM aesthetic_inventory_usage_history") == before


def test_unknown_user_sees_no_costs_and_may_not_record(oe: tuple[Engine, str]) -> None:
    _engine, url = oe
    shown = cli(url, "usage", "show", "--pid", str(PID), "--encounter", str(ENC),
                "--user", "nobody-here")
    assert shown.exit_code == 1 and "may not view materials" in shown.output


def test_unknown_visit_code_and_lot_are_one_line_errors(oe: tuple[Engine, str]) -> None:
    engine, url = oe
    before = q(engine, "SELECT COUNT(*) FROM aesthetic_inventory_usage_history")
    for args, message in [
        (["--encounter", "1", "--code", "CPT4:15828"], "no visit"),
        (["--encounter", str(ENC), "--code", "CPT4:00000"], "no product is mapped"),
        (["--encounter", str(ENC), "--code", "CPT4:15828", "--lot", "NOPE"], "no lot"),
        (["--encounter", str(ENC), "--code", "15828"], "CODE_TYPE:CODE"),
    ]:
        result = cli(url, "usage", "record", "--pid", str(PID), *args, "--actual", "3",
                     "--reason", "OTHER", "--user", "nurse1")
        assert result.exit_code == 1, result.output
        assert message in result.output and result.output.strip().count("\n") == 0
    assert q(engine, "SELECT COUNT(*) FROM aesthetic_inventory_usage_history") == before


def test_variance_report_formats_and_cost_visibility(oe: tuple[Engine, str]) -> None:
    _engine, url = oe
    today = date.today().isoformat()
    as_acct = cli(url, "report", "variance", "--from", today, "--to", today, "--by", "product",
                  "--user", "u_back", "--format", "json")
    assert as_acct.exit_code == 0, as_acct.output
    body = json.loads(as_acct.output)
    [botox] = [g for g in body["groups"] if g["key"] == "Botox Cosmetic 100U"]
    assert (botox["plannedUnits"], botox["actualUnits"], botox["varianceUnits"]) == (
        "1", "3", "2")
    assert botox["varianceByReason"] == {"OTHER": "2"}
    assert (botox["plannedCost"], botox["actualCost"]) == ("420.00", "1260.00")
    as_front = json.loads(cli(url, "report", "variance", "--user", "u_front",
                              "--format", "json").output)
    assert as_front["total"]["actualCost"] is None and as_front["costsVisible"] is False
    csv_out = cli(url, "report", "variance", "--by", "code", "--format", "csv")
    assert csv_out.output.splitlines()[0].startswith("code,records,planned units")
    assert any(line.startswith("CPT4:15828,") for line in csv_out.output.splitlines())
    text_out = cli(url, "report", "variance", "--by", "month")
    assert text_out.exit_code == 0 and "Variance report by month" in text_out.output
    assert cli(url, "report", "variance", "--from", "2026-02-30").exit_code == 2
    html = cli(url, "report", "variance", "--user", "u_back", "--format", "html").output
    assert html.lstrip().lower().startswith("<!doctype html") and "<table" in html
    assert "Botox Cosmetic 100U" in html and "1260.00" in html and "<script" not in html
