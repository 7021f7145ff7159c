"""End to end on the REAL OpenEMR schema: billing rows inserted with plain SQL the way
OpenEMR's PHP fee sheet does (empty sql_mode) are picked up by the billing triggers and
the queue worker, and separately by the ``sync`` command."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.batch import drain_change_queue
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install import triggers
from aesthetic_inventory.install.service import load_sample, migrate
from click.testing import CliRunner
from dbtools import uows
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e
SERVICE = "aesthetic-inventory"


@pytest.fixture(scope="module")
def oe_engine(openemr_db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(openemr_db_url)
    report = migrate(engine)
    assert report.triggers is not None and report.triggers.installed
    load_sample(engine)
    yield engine
    engine.dispose()


def php(engine: Engine, sql: str, params: dict | None = None) -> int:
    """Run a statement the way OpenEMR's PHP does: its own connection, empty sql_mode."""
    with engine.begin() as conn:
        conn.execute(text("SET SESSION sql_mode = ''"))
        result = conn.execute(text(sql), params or {})
        return int(result.lastrowid or 0)


def q(engine: Engine, sql: str, params: dict | None = None) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params or {})]


def visit_with_line(engine: Engine, pid: int, enc: int, code: str, units: int) -> int:
    php(engine, "INSERT INTO form_encounter (date, reason, pid, encounter) "
                "VALUES (:d, 'e2e', :p, :e)", {"d": date.today(), "p": pid, "e": enc})
    user = php(engine, "INSERT INTO users (username, fname, lname, authorized) "
                       "VALUES (:u, 'Dana', 'Doc', 1)", {"u": f"doc{enc}"})
    # as OpenEMR's BillingUtilities::addBilling writes a fee-sheet line
    return php(
        engine,
        "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
        "authorized, encounter, code_text, billed, activity, payer_id, units, fee, modifier, "
        "justify, ndc_info, pricelevel, revenue_code) VALUES (NOW(), 'CPT4', :c, :p, 1, :u, "
        "'Default', 1, :e, 'x', 0, 1, NULL, :n, 100.00, '', '', '', '', '')",
        {"c": code, "p": pid, "u": user, "e": enc, "n": units},
    )


def auto_rows(engine: Engine, pid: int, enc: int) -> list[tuple]:
    return q(engine,
             "SELECT ds.selector, d.name, ds.quantity, ds.user, ds.sale_date, ds.fee, "
             "ds.trans_type, ds.billed FROM drug_sales ds JOIN drugs d ON d.drug_id = ds.drug_id "
             "WHERE ds.pid = :p AND ds.encounter = :e ORDER BY ds.sale_id", {"p": pid, "e": enc})


def mapping_id(engine: Engine, code: str) -> int:
    return int(q(engine, "SELECT id FROM procedure_products WHERE code = :c", {"c": code})[0][0])


def test_trigger_queue_and_worker_produce_auto_proc_rows(oe_engine: Engine) -> None:
    with oe_engine.connect() as conn:
        assert triggers.trigger_status(conn).installed
    line = visit_with_line(oe_engine, 501, 9001, "15828", 2)
    assert q(oe_engine, "SELECT pid, encounter FROM aesthetic_inventory_change_queue") == [
        (501, 9001)]
    result = drain_change_queue(uows(oe_engine), service_username=SERVICE)
    assert result.changed == 1
    assert auto_rows(oe_engine, 501, 9001) == [
        (f"AUTO_PROC:{mapping_id(oe_engine, '15828')}", "Botox Cosmetic 100U", 2, "doc9001",
         date.today(), 0, 1, 0)]
    # PHP deletes the line by setting activity 0: the stock comes back
    php(oe_engine, "UPDATE billing SET activity = 0 WHERE id = :i", {"i": line})
    drain_change_queue(uows(oe_engine), service_username=SERVICE)
    assert auto_rows(oe_engine, 501, 9001) == []
    ledgers = q(oe_engine, "SELECT di.on_hand + COALESCE(SUM(ds.quantity), 0) FROM "
                           "drug_inventory di LEFT JOIN drug_sales ds "
                           "ON ds.inventory_id = di.inventory_id GROUP BY di.inventory_id")
    assert {r[0] for r in ledgers} == {0}


def test_sync_command_sweeps_visits_without_the_queue(oe_engine: Engine, openemr_db_url: str
                                                      ) -> None:
    visit_with_line(oe_engine, 502, 9002, "11950", 1)
    php(oe_engine, "DELETE FROM aesthetic_inventory_change_queue")  # as if triggers were off
    result = CliRunner().invoke(main, ["--database-url", openemr_db_url, "sync", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["queue"]["visits"] == 0 and data["sweep"]["changed"] >= 1
    assert auto_rows(oe_engine, 502, 9002) == [
        (f"AUTO_PROC:{mapping_id(oe_engine, '11950')}", "Hyaluronic Acid Filler 1mL", 1,
         "doc9002", date.today(), 0, 1, 0)]
    again = CliRunner().invoke(main, ["--database-url", openemr_db_url, "sync", "--json"])
    assert json.loads(again.output)["sweep"]["changed"] == 0


def test_consume_command_reports_lots_and_unknown_visit_fails(
    oe_engine: Engine, openemr_db_url: str
) -> None:
    visit_with_line(oe_engine, 503, 9003, "15788", 1)
    php(oe_engine, "DELETE FROM aesthetic_inventory_change_queue")
    runner = CliRunner()
    ok = runner.invoke(main, ["--database-url", openemr_db_url, "consume", "--pid", "503",
                              "--encounter", "9003"])
    assert ok.exit_code == 0, ok.output
    assert "took 1 from lot" in ok.output and "CPT4 15788" in ok.output
    again = runner.invoke(main, ["--database-url", openemr_db_url, "consume", "--pid", "503",
                                 "--encounter", "9003", "--json"])
    assert json.loads(again.output)["changed"] is False
    bad = runner.invoke(main, ["--database-url", openemr_db_url, "consume", "--pid", "503",
                               "--encounter", "424242"])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        "Error: no visit with pid 503 and encounter 424242"]
    usage = runner.invoke(main, ["--database-url", openemr_db_url, "sync", "--since", "yesterday"])
    assert usage.exit_code == 2 and "YYYY-MM-DD" in usage.output


def test_fee_sheet_api_and_demo_hook_on_the_real_schema(oe_engine: Engine) -> None:
    from aesthetic_inventory.consumption.demo import demo_fee_sheet
    from aesthetic_inventory.consumption.fee_sheet import FeeSheetChanges, save_fee_sheet
    from aesthetic_inventory.unit_of_work import UnitOfWork

    result = demo_fee_sheet(oe_engine, service_username=SERVICE)
    assert {m.code: m.allocated for m in result.lines} == {"15828": 2, "11950": 1}
    lines = q(oe_engine, "SELECT id, code, code_text, units, fee, groupname, authorized "
                         "FROM billing WHERE pid = 1 AND encounter = :e ORDER BY id",
              {"e": result.encounter})
    assert [(r[1], r[2], r[3], r[5], r[6]) for r in lines][0] == (
        "15828", "Rhytidectomy; cheek, chin, and neck", 2, "Default", 1)
    # delete the Botox line through the API: its stock comes back in the same transaction
    _, after = save_fee_sheet(UnitOfWork(oe_engine), 1, result.encounter,
                              FeeSheetChanges(delete=[lines[0][0]]), service_username=SERVICE)
    botox = next(m for m in after.lines if m.code == "15828")
    assert (botox.allocated, botox.returned) == (0, 2)
    assert q(oe_engine, "SELECT COUNT(*) FROM aesthetic_inventory_change_queue") == [(0,)]
