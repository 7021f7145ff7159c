"""Issue 16's done-when: a preview equals the reconcile that follows, per mapping
(required, allocated, shortage, added, returned, and the lots with their quantities),
after any mix of fee-sheet changes, recorded actuals, receipts and destroyed lots.

A seeded random walk on the REAL OpenEMR schema: billing lines added, units changed,
lines deleted (as OpenEMR's PHP fee sheet writes them), actuals recorded (``usage
record``), AUTO_PROC rows edited on OpenEMR's fee sheet, lots received and destroyed
(as ``add_edit_lot.php`` / ``destroy_lot.php`` do). After every step every visit is
previewed, then reconciled, and the two are compared."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.results import ReconcileResult
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.errors import InvalidInputError
from aesthetic_inventory.install.service import load_sample, migrate
from aesthetic_inventory.reports.service import read_only
from aesthetic_inventory.reports.visit import preview_reconcile
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.service import MaterialInput, record_usage
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e
SERVICE = "aesthetic-inventory"
SEED = 16
STEPS = 100
VISITS = [(1601, 16001), (1602, 16002), (1603, 16003)]
# the sample's mappings (1 unit per line) and one of half a vial per line (rounding)
CODES = ["15828", "11950", "15788", "64612"]


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[tuple[Engine, str]]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    load_sample(engine)
    php(engine, "INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
                "SELECT 'CPT4', '64612', drug_id, 0.5 FROM drugs "
                "WHERE name = 'Botox Cosmetic 100U'")
    php(engine, "INSERT INTO users (username, active) VALUES ('nurse', 1)")  # who records
    for pid, enc in VISITS:
        php(engine, "INSERT INTO form_encounter (date, reason, pid, encounter) "
                    "VALUES (CURDATE(), 'random walk', :p, :e)", {"p": pid, "e": enc})
    yield engine, openemr_db_url
    engine.dispose()


def php(engine: Engine, sql: str, params: dict | None = None) -> int:
    """A statement as OpenEMR's PHP runs it: its own connection, empty sql_mode, not
    the module's session (so the usage triggers see an outside edit)."""
    with engine.begin() as conn:
        conn.execute(text("SET SESSION sql_mode = '', @aesthetic_inventory_writer = NULL"))
        try:
            result = conn.execute(text(sql), params or {})
        finally:  # the pooled connection goes back to the module marked as its own
            conn.execute(text("SET @aesthetic_inventory_writer = 1"))
        return int(result.lastrowid or 0)


def q(engine: Engine, sql: str, params: dict | None = None) -> list[tuple]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params or {})]


def per_mapping(result: ReconcileResult) -> dict[int, tuple]:
    """What must agree between a preview and the reconcile, per mapping."""
    return {
        m.mapping_id: (m.required, m.allocated, m.shortage, m.added, m.returned,
                       tuple((lot.inventory_id, lot.lot_number, lot.quantity)
                             for lot in m.lots))
        for m in result.lines
    }


def preview(engine: Engine, pid: int, enc: int) -> tuple[ReconcileResult, int]:
    with read_only(engine) as repo:
        return preview_reconcile(repo, pid, enc, service_username=SERVICE)


def add_line(engine: Engine, rng: random.Random, pid: int, enc: int,
             codes: list[str] = CODES) -> str:
    code = rng.choice(codes)
    units = rng.randint(1, 3)
    # as OpenEMR's BillingUtilities::addBilling writes a fee-sheet line
    php(engine,
        "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
        "authorized, encounter, code_text, billed, activity, units, fee, modifier, justify, "
        "ndc_info, pricelevel, revenue_code) VALUES (NOW(), 'CPT4', :c, :p, 1, NULL, "
        "'Default', 1, :e, 'x', 0, 1, :n, 100.00, '', '', '', '', '')",
        {"c": code, "p": pid, "e": enc, "n": units})
    return f"add {code} x{units}"


def live_lines(engine: Engine, pid: int, enc: int) -> list[tuple]:
    return q(engine, "SELECT id, code FROM billing WHERE pid = :p AND encounter = :e "
                     "AND activity = 1 ORDER BY id", {"p": pid, "e": enc})


def change_units(engine: Engine, rng: random.Random, pid: int, enc: int,
                 codes: list[str] = CODES) -> str:
    lines = live_lines(engine, pid, enc)
    if not lines:
        return add_line(engine, rng, pid, enc, codes)
    line_id, _code = rng.choice(lines)
    units = rng.randint(1, 4)
    php(engine, "UPDATE billing SET units = :n WHERE id = :i", {"n": units, "i": line_id})
    return f"units of line {line_id} -> {units}"


def delete_line(engine: Engine, rng: random.Random, pid: int, enc: int) -> str:
    lines = live_lines(engine, pid, enc)
    if not lines:
        return "no line to delete"
    line_id, _code = rng.choice(lines)
    php(engine, "UPDATE billing SET activity = 0 WHERE id = :i", {"i": line_id})
    return f"delete line {line_id}"


def record_actual(engine: Engine, rng: random.Random, pid: int, enc: int) -> str:
    codes = sorted({c for _, c in live_lines(engine, pid, enc)})
    if not codes:
        return "nothing to record"
    code = rng.choice(codes)
    actual = rng.choice(["0", "1", "1.5", "2", "3"])
    lot = None
    if rng.random() < 0.3:  # name the vial in hand
        lots = q(engine, "SELECT di.lot_number FROM drug_inventory di JOIN procedure_products "
                         "pp ON pp.drug_id = di.drug_id WHERE pp.code = :c "
                         "AND di.destroy_date IS NULL AND di.on_hand > 0", {"c": code})
        lot = rng.choice(lots)[0] if lots else None
    try:
        record_usage(lambda: UnitOfWork(engine), pid, enc,
                     [MaterialInput("CPT4", code, actual, reason="OTHER", lot=lot)],
                     user="nurse", service_username=SERVICE)
    except InvalidInputError as exc:  # a short named lot is refused, nothing written
        return f"record {code} = {actual} refused: {exc}"
    return f"record {code} = {actual}" + (f" in lot {lot}" if lot else "")


def fee_sheet_edit(engine: Engine, rng: random.Random, pid: int, enc: int) -> str:
    rows = q(engine, "SELECT sale_id, inventory_id, quantity FROM drug_sales WHERE pid = :p "
                     "AND encounter = :e AND selector LIKE 'AUTO_PROC:%'", {"p": pid, "e": enc})
    if not rows:
        return "no AUTO_PROC row to edit"
    sale_id, inventory_id, quantity = rng.choice(rows)
    if rng.random() < 0.3:  # FeeSheet::save removing the product line
        php(engine, "DELETE FROM drug_sales WHERE sale_id = :s", {"s": sale_id})
        php(engine, "UPDATE drug_inventory SET on_hand = on_hand + :n WHERE inventory_id = :i",
            {"n": quantity, "i": inventory_id})
        return f"fee sheet deletes sale {sale_id}"
    new = rng.randint(1, 4)
    php(engine, "UPDATE drug_sales SET quantity = :n WHERE sale_id = :s", {"n": new, "s": sale_id})
    php(engine, "UPDATE drug_inventory SET on_hand = on_hand - :d WHERE inventory_id = :i",
        {"d": new - quantity, "i": inventory_id})
    return f"fee sheet sets sale {sale_id} to {new}"


def receive_lot(engine: Engine, rng: random.Random, step: int,
                per_package: dict[str, int] | None = None, *, product: str | None = None,
                packages: int | None = None) -> str:
    product = product or rng.choice(["Botox Cosmetic 100U", "Hyaluronic Acid Filler 1mL",
                                     "Medical Grade Peel Kit"])
    # packages received; a product counted in units receives whole packages of units
    units = (packages or rng.randint(1, 5)) * (per_package or {}).get(product, 1)
    expires = date.today() + timedelta(days=rng.choice([30, 90, 400]))
    # add_edit_lot.php: the lot row, then its receipt transaction (trans_type 2)
    inventory_id = php(engine, "INSERT INTO drug_inventory (drug_id, lot_number, expiration, "
                               "on_hand, warehouse_id) SELECT drug_id, :l, :x, :n, 'onsite' "
                               "FROM drugs WHERE name = :d",
                       {"l": f"RW-{step}", "x": expires, "n": units, "d": product})
    php(engine, "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, trans_type) "
                "SELECT drug_id, inventory_id, CURDATE(), -:n, 2 FROM drug_inventory "
                "WHERE inventory_id = :i", {"n": units, "i": inventory_id})
    return f"receive {units} of {product} as RW-{step}"


def destroy_lot(engine: Engine, rng: random.Random) -> str:
    lots = q(engine, "SELECT inventory_id FROM drug_inventory WHERE destroy_date IS NULL "
                     "AND on_hand > 0 ORDER BY inventory_id")
    if not lots:
        return "no lot to destroy"
    (inventory_id,) = rng.choice(lots)
    # destroy_lot.php sets the destroy columns; on_hand is left as it was
    php(engine, "UPDATE drug_inventory SET destroy_date = CURDATE(), destroy_method = 'waste', "
                "destroy_witness = 'w', destroy_notes = 'random walk' WHERE inventory_id = :i",
        {"i": inventory_id})
    return f"destroy lot {inventory_id}"


def step_once(engine: Engine, rng: random.Random, step: int, codes: list[str] = CODES,
              per_package: dict[str, int] | None = None) -> str:
    pid, enc = rng.choice(VISITS)
    action = rng.choices(
        ["add", "units", "delete", "record", "edit", "receive", "destroy"],
        weights=[4, 4, 3, 2, 2, 1, 1],
    )[0]
    if action == "add":
        return add_line(engine, rng, pid, enc, codes)
    if action == "units":
        return change_units(engine, rng, pid, enc, codes)
    if action == "delete":
        return delete_line(engine, rng, pid, enc)
    if action == "record":
        return record_actual(engine, rng, pid, enc)
    if action == "edit":
        return fee_sheet_edit(engine, rng, pid, enc)
    if action == "receive":
        return receive_lot(engine, rng, step, per_package)
    return destroy_lot(engine, rng)


def walk(engine: Engine, rng: random.Random, steps: int, codes: list[str] = CODES,
         per_package: dict[str, int] | None = None,
         check: Callable[[Engine, str], None] | None = None) -> dict[str, int]:
    """Take ``steps`` random steps; after each, preview then reconcile every visit and
    compare them (and that a second reconcile has nothing left to do), then run
    ``check``. Returns what the walk saw."""
    seen = {"compared": 0, "taken": 0, "returned": 0, "short": 0, "recorded": 0, "edited": 0}
    for step in range(steps):
        what = step_once(engine, rng, step, codes, per_package)
        seen["recorded"] += what.startswith("record") and "refused" not in what
        seen["edited"] += what.startswith("fee sheet")
        for pid, enc in VISITS:
            planned, _records = preview(engine, pid, enc)
            done = reconcile_visit(UnitOfWork(engine), pid, enc, service_username=SERVICE)
            assert per_mapping(planned) == per_mapping(done), (step, what, pid, enc)
            assert planned.changed == done.changed, (step, what, pid, enc)
            assert planned.problems == done.problems
            seen["compared"] += len(done.lines)
            seen["taken"] += sum(1 for m in done.lines if m.added)
            seen["returned"] += sum(1 for m in done.lines if m.returned)
            seen["short"] += sum(1 for m in done.lines if m.shortage)
            # and the reconcile it just did left nothing for a second one to do
            again, records = preview(engine, pid, enc)
            assert not again.changed and records == 0, (step, what, pid, enc)
        ledgers = q(engine, "SELECT di.on_hand + COALESCE(SUM(ds.quantity), 0) FROM "
                            "drug_inventory di LEFT JOIN drug_sales ds "
                            "ON ds.inventory_id = di.inventory_id GROUP BY di.inventory_id")
        assert {r[0] for r in ledgers} == {0}, (step, what)
        if check is not None:
            check(engine, f"step {step}: {what}")
    return seen


def test_preview_equals_reconcile_on_a_random_walk(oe: tuple[Engine, str]) -> None:
    engine, _url = oe
    seen = walk(engine, random.Random(SEED), STEPS)
    # the walk exercised every path: takes, returns, shortages, actuals, fee-sheet edits
    assert seen["compared"] > 3 * STEPS, seen
    assert min(seen.values()) >= 3, seen


def test_issue_example_actual_3_plan_1_then_bill_2_units(oe: tuple[Engine, str]) -> None:
    """Record an actual of 3 against a plan of 1, then bill 2 units: the dry run said
    "return 1 vial" where the reconcile returns nothing; now both say nothing moves."""
    engine, url = oe
    pid, enc = 1690, 16090
    php(engine, "INSERT INTO form_encounter (date, reason, pid, encounter) "
                "VALUES (CURDATE(), 'issue 16', :p, :e)", {"p": pid, "e": enc})
    php(engine, "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) SELECT drug_id, 'ISSUE16', :x, 10, 'onsite' FROM drugs "
                "WHERE name = 'Hyaluronic Acid Filler 1mL'",
        {"x": date.today() + timedelta(days=30)})
    php(engine, "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, trans_type) "
                "SELECT drug_id, inventory_id, CURDATE(), -10, 2 FROM drug_inventory "
                "WHERE lot_number = 'ISSUE16'")
    line = php(engine,
               "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
               "authorized, encounter, code_text, billed, activity, units, fee, modifier, "
               "justify, ndc_info, pricelevel, revenue_code) VALUES (NOW(), 'CPT4', '11950', "
               ":p, 1, NULL, 'Default', 1, :e, 'x', 0, 1, 1, 100.00, '', '', '', '', '')",
               {"p": pid, "e": enc})
    reconcile_visit(UnitOfWork(engine), pid, enc, service_username=SERVICE)
    record_usage(lambda: UnitOfWork(engine), pid, enc,
                 [MaterialInput("CPT4", "11950", "3", reason="ADDITIONAL_USAGE")],
                 user="nurse", service_username=SERVICE)
    php(engine, "UPDATE billing SET units = 2 WHERE id = :i", {"i": line})

    runner = CliRunner()
    dry = runner.invoke(main, ["--database-url", url, "consume", "--pid", str(pid),
                               "--encounter", str(enc), "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    [mapping] = json.loads(dry.output)["mappings"]
    planned, _records = preview(engine, pid, enc)
    done = reconcile_visit(UnitOfWork(engine), pid, enc, service_username=SERVICE)
    assert per_mapping(planned) == per_mapping(done)
    [line_done] = done.lines
    assert (line_done.required, line_done.allocated, line_done.added, line_done.returned) == (
        3, 3, 0, 0)
    assert (mapping["required"], mapping["allocated"]) == (3, 3)
    assert not done.changed
    assert q(engine, "SELECT on_hand FROM drug_inventory WHERE lot_number = 'ISSUE16'") == [
        (7,)]
