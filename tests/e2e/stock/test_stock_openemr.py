"""End to end on the REAL OpenEMR schema: the stock commands through the CLI, then
OpenEMR's Inventory Activity report (interface/reports/inventory_activity.php) run over
the rows they wrote: its SELECT and its classification rule, re-stated here from the PHP
(not from our code), put each receipt under Purchases, each transfer under Transfers,
each adjustment and count under Adjustments, the destruction as its pseudo-adjustment,
and every product's starting inventory is 0: no movement is missing or double-counted."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import load_sample, migrate
from aesthetic_inventory.stock import domain
from aesthetic_inventory.stock.repository import lot_drift
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[tuple[str, Engine]]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    load_sample(engine)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO list_options (list_id, option_id, title, seq, is_default) "
            "VALUES ('warehouse', 'annex', 'Annex', 10, 0)"))
    yield openemr_db_url, engine
    engine.dispose()


def cli(url: str, *args: str) -> str:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    assert result.exit_code == 0, result.output
    return result.output


def _report_class(row: dict) -> tuple[str, int]:  # type: ignore[type-arg]
    """The PHP's rule, as written in inventory_activity.php (seen from lot di)."""
    if row["xfer_inventory_id"]:
        if row["inventory_id"] == row["xfer_inventory_id"]:
            return "transfers", row["quantity"]
        return "transfers", -row["quantity"]
    if row["pid"]:
        return "sales", -row["quantity"]
    if row["distributor_id"]:
        return "distributions", -row["quantity"]
    if row["fee"] != 0:
        return "purchases", -row["quantity"]
    return "adjustments", -row["quantity"]


def inventory_activity(engine: Engine, to_date: date) -> dict[int, dict[str, int]]:
    """Per product: the report's five columns plus start and end, from 2000-01-01."""
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(
            "SELECT s.sale_id, s.sale_date, s.quantity, s.fee, s.pid, s.encounter, "
            "s.xfer_inventory_id, s.distributor_id, d.name, lo.title, "
            "di.drug_id, di.warehouse_id, di.inventory_id, di.destroy_date, di.on_hand "
            "FROM drug_inventory AS di JOIN drugs AS d ON d.drug_id = di.drug_id "
            "LEFT JOIN drug_sales AS s ON s.sale_date >= '2000-01-01' AND s.sale_date <= :to "
            "AND s.drug_id = di.drug_id AND "
            "( s.inventory_id = di.inventory_id OR s.xfer_inventory_id = di.inventory_id ) "
            "LEFT JOIN list_options AS lo ON lo.list_id = 'warehouse' AND "
            "lo.option_id = di.warehouse_id "
            "WHERE ( di.destroy_date IS NULL OR di.destroy_date >= '2000-01-01' ) "
            "ORDER BY d.name, d.drug_id, lo.title, di.warehouse_id, di.inventory_id, "
            "s.sale_date, s.sale_id"), {"to": to_date})]
        end = {int(r[0]): int(r[1] or 0) for r in conn.execute(text(
            "SELECT drug_id, SUM(on_hand) FROM drug_inventory "
            "WHERE destroy_date IS NULL OR destroy_date > :to GROUP BY drug_id"),
            {"to": to_date})}
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    last_lot = 0
    for row in rows:
        t = totals[row["drug_id"]]
        if row["inventory_id"] != last_lot:
            last_lot = row["inventory_id"]
            if row["destroy_date"] and row["on_hand"] and row["destroy_date"] <= to_date:
                t["adjustments"] += -row["on_hand"]
        if row["sale_id"]:
            column, qty = _report_class(row)
            mine = domain.inventory_activity_class(
                lot_id=row["inventory_id"], inventory_id=row["inventory_id"],
                xfer_inventory_id=row["xfer_inventory_id"], pid=row["pid"],
                distributor_id=row["distributor_id"], fee=row["fee"], quantity=row["quantity"])
            assert mine == (column, qty)
            t[column] += qty
    for drug_id, t in totals.items():
        t["end"] = end.get(drug_id, 0)
        t["start"] = t["end"] - sum(t[c] for c in domain.ACTIVITY_COLUMNS)
    return totals


def test_commands_write_rows_openemr_reports_classify(oe: tuple[str, Engine],
                                                      tmp_path: Path) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    today = date.today()
    # the example delivery carries future dates; a past one is refused
    out = cli(url, "receive", "--file", str(EXAMPLES / "delivery.csv"), "--supplier",
              "Allergan", "--invoice", "INV-77")
    assert "received 3 line(s), 36 unit(s)" in out
    lots = {r[0]: int(r[1]) for r in clinic.rows(
        "SELECT lot_number, inventory_id FROM drug_inventory WHERE lot_number IN "
        "('BTX-2409A', 'HA-77812', 'PK-1102')")}
    btx, ha, pk = lots["BTX-2409A"], lots["HA-77812"], lots["PK-1102"]
    assert clinic.on_hand(btx) == 10  # 2 packages x 5
    bad = CliRunner().invoke(main, [
        "--database-url", url, "receive", "--product", "Medical Grade Peel Kit", "--lot", "X",
        "--expires", (today - timedelta(days=1)).isoformat(), "--quantity", "1",
        "--unit-cost", "1"])
    assert bad.exit_code == 1 and "--expires" in bad.output and "Traceback" not in bad.output

    cli(url, "transfer", "--lot", str(ha), "--to", "annex", "--quantity", "5")
    cli(url, "adjust", "--lot", str(pk), "--by", "-1", "--reason", "DAMAGED", "--notes",
        "box crushed")
    count_path = tmp_path / "count.csv"
    count_path.write_text(f"lot_id,counted\n{btx},9\n{pk},5\n", encoding="utf-8")
    out = cli(url, "count", "--file", str(count_path))
    assert "2 lot(s) counted, 1 adjusted" in out
    cli(url, "destroy", "--lot", str(pk), "--method", "returned to pharmacy waste",
        "--witness", "RN Lee")

    # OpenEMR's own rows balance, and the report classifies them
    assert all(v == 0 for v in clinic.ledgers().values())
    with engine.connect() as conn:
        assert lot_drift(conn) == []
    report = inventory_activity(engine, today)
    drug = {n: int(i) for i, n in clinic.rows(
        "SELECT drug_id, name FROM drugs WHERE name IN ('Botox Cosmetic 100U', "
        "'Hyaluronic Acid Filler 1mL', 'Medical Grade Peel Kit')")}
    botox = report[drug["Botox Cosmetic 100U"]]
    filler = report[drug["Hyaluronic Acid Filler 1mL"]]
    peel = report[drug["Medical Grade Peel Kit"]]
    for t in (botox, filler, peel):
        assert t["start"] == 0 and t["sales"] == 0 and t["distributions"] == 0
    # sample lot purchase + our receipt (the sample data's own lot is a purchase too)
    assert botox["adjustments"] == -1 and botox["transfers"] == 0
    assert filler["transfers"] == 0  # out of one lot, into another of the same product
    assert peel["adjustments"] == -1 + -5  # the DAMAGED adjustment, then the destruction
    received = {d: int(q) for d, q in clinic.rows(
        "SELECT drug_id, -SUM(quantity) FROM drug_sales WHERE trans_type = 2 GROUP BY drug_id")}
    assert botox["purchases"] == received[drug["Botox Cosmetic 100U"]]

    # per lot (the report's detail lines): the transfer shows as -5 / +5
    with engine.connect() as conn:
        xfer = conn.execute(text(
            "SELECT inventory_id, xfer_inventory_id, quantity, fee, trans_type FROM drug_sales "
            "WHERE trans_type = 4")).one()
    assert (xfer[1], xfer[2], xfer[3], xfer[4]) == (ha, -5, Decimal("0.00"), 4)

    ledger = json.loads(cli(url, "ledger", "--format", "json"))["movements"]
    assert [m["movement"] for m in ledger] == [
        "RECEIVE", "RECEIVE", "RECEIVE", "TRANSFER", "TRANSFER", "ADJUST", "ADJUST",
        "DESTROY"]
    assert "Botox Cosmetic 100U" in cli(url, "valuation")
    assert cli(url, "report", "valuation", "--by", "category").startswith("category ")
    out = cli(url, "valuation", "--by", "warehouse", "--format", "csv")
    assert out.splitlines()[0].startswith("warehouse,units,value_at_average")


def test_reorder_apply_feeds_the_low_stock_threshold(oe: tuple[str, Engine]) -> None:
    url, engine = oe
    clinic = Clinic(engine)
    drug = clinic.add_drug("Reorder Probe")
    lot = clinic.add_lot(drug, 100, expiration=date.today() + timedelta(days=300))
    clinic.execute("UPDATE drugs SET supplier_name = 'Probe Co', max_level = 100 "
                   "WHERE drug_id = :d", {"d": drug})
    # OpenEMR's own sales: 90 units over the last 90 days = 1/day
    for k in range(9):
        clinic.execute(
            "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, "
            "quantity, fee, trans_type) VALUES (:d, :i, 7, :e, :s, 10, 0, 1)",
            {"d": drug, "i": lot, "e": 100 + k, "s": date.today() - timedelta(days=k * 9)})
    clinic.execute("UPDATE drug_inventory SET on_hand = 10 WHERE inventory_id = :i",
                   {"i": lot})
    cli(url, "supplier", "--name", "Probe Co", "--lead-time-days", "14")
    out = cli(url, "reorder")
    # 1/day x 14 days + 10 % of 30 = 17; stock 10 <= 17: order up to 100 -> 90
    assert (f"Reorder Probe (#{drug}): 1.00/day, reorder point 17 (safety 3), stock 10: "
            "order 90 x 1 = 90") in out
    assert clinic.scalar("SELECT reorder_point FROM drugs WHERE drug_id = :d",
                         {"d": drug}) == 0  # not written without --apply
    cli(url, "reorder", "--apply")
    assert clinic.scalar("SELECT reorder_point FROM drugs WHERE drug_id = :d",
                         {"d": drug}) == 17
    csv_out = cli(url, "reorder", "--format", "csv")
    assert f"Probe Co,{drug},Reorder Probe," in csv_out
