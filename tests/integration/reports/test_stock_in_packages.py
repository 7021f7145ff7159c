"""Issue 18 in the stock listing and the stock reports: a product counted in units
(``products set --unit U --package-unit vial --package-size 100``) shows its stock as
packages and units in text (``1 vial + 40 U``), CSV and JSON keep the plain counts and
add a text field; a product without a package size prints as before."""

from __future__ import annotations

import json
from datetime import date, timedelta

from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic

TODAY = date.today()


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    return result.exit_code, result.stdout, result.stderr


def test_stock_listing_and_reports_in_packages(migrated_db_url: str, clinic: Clinic) -> None:
    botox = clinic.add_drug("Botox", reorder_point=300)
    gauze = clinic.add_drug("Gauze", reorder_point=5)
    code, out, err = run(migrated_db_url, "products", "set", "Botox", "--unit", "U",
                         "--package-unit", "vial", "--package-size", "100", "--yes")
    assert code == 0, err
    clinic.add_lot(botox, 140, expiration=TODAY + timedelta(days=10), lot_number="B1")
    clinic.add_lot(gauze, 12, expiration=TODAY + timedelta(days=20), lot_number="G1")

    code, out, err = run(migrated_db_url, "stock", "--lots")
    assert code == 0, err
    lines = out.splitlines()
    product = next(x for x in lines if "Botox" in x and "LOW" in x)
    assert "1 vial + 40 U" in product and "3 vial" in product
    assert next(x for x in lines if "Gauze" in x and "OK" in x).split()[:5] == [
        str(gauze), "Gauze", "12", "0", "5"]
    assert next(x for x in lines if " B1 " in x).endswith("1 vial + 40 U")
    assert next(x for x in lines if " G1 " in x).endswith(" 12")

    code, out, err = run(migrated_db_url, "stock", "--lots", "--json")
    assert code == 0, err
    data = json.loads(out)
    by_name = {p["name"]: p for p in data["products"]}
    assert (by_name["Botox"]["usable"], by_name["Botox"]["usable_stock"]) == (
        140, "1 vial + 40 U")
    assert by_name["Botox"]["reorder_point_stock"] == "3 vial"
    assert (by_name["Gauze"]["usable"], by_name["Gauze"]["usable_stock"]) == (12, "12")
    lots = {x["lot_number"]: x for x in data["lots"]}
    assert (lots["B1"]["on_hand"], lots["B1"]["stock"]) == (140, "1 vial + 40 U")

    code, out, err = run(migrated_db_url, "report", "expiring", "--horizon-days", "30")
    assert code == 0, err
    assert "1 vial + 40 U" in next(x for x in out.splitlines() if " B1 " in x)
    code, out, err = run(migrated_db_url, "report", "expiring", "--horizon-days", "30",
                         "--format", "csv")
    assert code == 0, err
    assert out.splitlines()[0].endswith(",Stock")
    assert next(x for x in out.splitlines() if ",B1," in x).endswith(",1 vial + 40 U")

    code, out, err = run(migrated_db_url, "valuation")
    assert code == 0, err
    assert "1 vial + 40 U" in next(x for x in out.splitlines() if x.startswith("Botox"))
    assert next(x for x in out.splitlines() if x.startswith("Gauze")).split()[2] == "12"

    code, out, err = run(migrated_db_url, "reorder", "--all")
    assert code == 0, err
    assert "stock 1 vial + 40 U" in next(x for x in out.splitlines() if "Botox" in x)
