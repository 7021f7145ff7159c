"""Issue 18's "done when" on the REAL OpenEMR schema: a toxin of 100 U vials in two
lots, a mapping of 20 U, four patients treated two days ago and one today. After
``sync``: one vial opened from the lot sellDrug would take, four 20 U AUTO_PROC rows
from it; its 20 U left are written off as an Adjustment that OpenEMR's Inventory
Activity report counts as one; today's patient opens the next vial; ``containers
--json``, ``containers show`` (the patients who shared the vial), ``recall --lot`` and
``report waste`` show exactly that; every lot balances. Then a fee sheet that needs
fewer units gives them back to the open vial."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.reports import service as reports
from aesthetic_inventory.reports.domain import classify_sale
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e
NOW = datetime.now().replace(microsecond=0)
TWO_DAYS_AGO = datetime.combine(NOW.date() - timedelta(days=2), datetime.min.time())


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[tuple[str, Engine]]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    yield openemr_db_url, engine
    engine.dispose()


def cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def _visit(engine: Engine, pid: int, when: datetime, code: str, units: int = 1) -> None:
    """A patient, an encounter at ``when`` and a billing line, as OpenEMR writes them."""
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO patient_data (pid, pubpid, fname, lname) "
                          "VALUES (:p, :p, 'Pat', :l)"), {"p": pid, "l": f"Number{pid}"})
        conn.execute(text("INSERT INTO form_encounter (date, pid, encounter, provider_id) "
                          "VALUES (:d, :p, :e, 0)"), {"d": when, "p": pid, "e": pid * 10})
        conn.execute(text(
            "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
            "authorized, encounter, code_text, billed, activity, units, fee) VALUES "
            "(NOW(), 'CPT4', :c, :p, 0, NULL, 'Default', 1, :e, '', 0, 1, :u, 0)"),
            {"c": code, "p": pid, "e": pid * 10, "u": units})


def test_a_day_of_shared_vials_on_the_real_schema(oe: tuple[str, Engine]) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    toxin = clinic.add_drug("Botox Cosmetic")
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, package_unit, beyond_use_hours, diluent_ml, average_cost) "
        "VALUES (:d, 100, 'U', 'vial', 24, 2.5, 5.25)", {"d": toxin})
    later = clinic.add_lot(toxin, 100, lot_number="C9999", expiration=date(2028, 6, 1))
    first = clinic.add_lot(toxin, 200, lot_number="C1234", expiration=date(2028, 1, 1))
    clinic.add_mapping("64612", toxin, "20")
    for n in range(4):
        _visit(engine, 101 + n, TWO_DAYS_AGO + timedelta(hours=9 + n), "64612")
    _visit(engine, 105, NOW - timedelta(minutes=5), "64612")

    out = cli(url, "sync")
    assert "containers past beyond-use: 1 closed, 20 unit(s) written off as waste" in out
    rows = clinic.rows("SELECT pid, inventory_id, quantity, selector FROM drug_sales "
                       "WHERE selector LIKE 'AUTO_PROC:%' ORDER BY pid")
    assert [(r[0], r[1], r[2]) for r in rows] == [(101, first, 20), (102, first, 20),
                                                  (103, first, 20), (104, first, 20),
                                                  (105, first, 20)]
    boxes = json.loads(cli(url, "containers", "--all", "--json"))
    assert [(b["lot_id"], b["units"], b["units_drawn"], b["units_wasted"], b["patients"],
             b["close_reason"]) for b in boxes] == [
        (first, 100, 80, 20, 4, "beyond-use"), (first, 100, 20, 0, 1, "")]
    vial1, vial2 = boxes[0]["id"], boxes[1]["id"]
    assert boxes[0]["opened_at"] == (TWO_DAYS_AGO + timedelta(hours=9)).isoformat()
    assert boxes[0]["beyond_use_at"] == (TWO_DAYS_AGO + timedelta(hours=33)).isoformat()
    assert [b["id"] for b in json.loads(cli(url, "containers", "--json"))] == [vial2]

    (waste,) = [r for r in clinic.sales(first) if r[7] == 5]
    assert waste[6] == 20 and waste[5] == 0 and waste[8].startswith("WASTAGE: beyond use")
    assert classify_sale(lot_id=first, xfer_inventory_id=waste[2], pid=waste[3],
                         distributor_id=waste[4], fee=waste[5],
                         quantity=waste[6]) == ("adjustments", -20)
    with reports.read_only(engine) as repo:
        (activity,) = reports.activity_rows(repo, start=NOW.date() - timedelta(days=30),
                                            end=NOW.date(), product=toxin)
    assert (activity.sales, activity.adjustments, activity.end) == (-100, -20, 180)
    ledger = [x for x in clinic.stock_ledger(first) if x[0] == "ADJUST"]
    assert [(x[3], x[6]) for x in ledger] == [(-20, "beyond-use")]
    assert (clinic.on_hand(first), clinic.on_hand(later)) == (80, 100)
    assert all(v == 0 for v in clinic.ledgers().values())

    shared = json.loads(cli(url, "containers", "show", str(vial1), "--json"))
    assert [(d["pid"], d["units"]) for d in shared] == [(101, 20), (102, 20), (103, 20),
                                                        (104, 20)]
    # the recall's own question about one vial: the same four patients
    assert json.loads(cli(url, "recall", "--container", str(vial1), "--json")) == shared
    recall = json.loads(cli(url, "recall", "--lot", "C1234", "--json"))
    assert sorted({p["pid"] for p in recall["patients"]}) == [101, 102, 103, 104, 105]
    report = json.loads(cli(url, "report", "waste", "--format", "json", "--from",
                            (NOW.date() - timedelta(days=3)).isoformat()))
    (line,) = report["waste"]
    assert (line["units_wasted"], line["units_opened"], line["share"], line["value"]) == (
        20, 200, 10, 105)

    # today's fee sheet drops to 0 units: the 20 U go back into the open vial
    with engine.begin() as conn:
        conn.execute(text("UPDATE billing SET units = 0 WHERE pid = 105"))
    cli(url, "sync")
    (box,) = json.loads(cli(url, "containers", "--json"))
    assert (box["id"], box["units_drawn"], box["units_left"]) == (vial2, 0, 100)
    assert clinic.on_hand(first) == 100
    assert all(v == 0 for v in clinic.ledgers().values())
