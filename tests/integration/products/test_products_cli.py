"""``products list|show|add|set`` on the migrated fixture database: every option lands
in its column, bad input is one line with exit 1 and nothing written, and ``receive``
takes packages of the product's size (options and CSV)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic

GTIN = "00300231145014"  # carries NDC 0023-1145-01
OTHER_GTIN = "04012345678901"
LATER = (date.today() + timedelta(days=300)).isoformat()


def _run(url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--database-url", url, *args])


def _snapshot(clinic: Clinic) -> tuple:
    return (clinic.rows("SELECT * FROM drugs ORDER BY drug_id"),
            clinic.rows("SELECT * FROM aesthetic_inventory_product_stock ORDER BY drug_id"),
            clinic.rows("SELECT gtin, drug_id FROM aesthetic_inventory_product_gtin"))


def test_add_writes_the_drug_row_and_every_module_column(clinic: Clinic,
                                                         migrated_db_url: str) -> None:
    result = _run(migrated_db_url, "products", "add", "Botox 100U", "--ndc", "0023-1145-01",
                  "--unit", "U", "--package-unit", "vial", "--package-size", "100",
                  "--beyond-use-hours", "24", "--diluent-ml", "2.5", "--category", "Neurotoxin",
                  "--cost", "312.50", "--supplier", "Allergan", "--reorder-point", "300",
                  "--min", "100", "--max", "1000", "--gtin", GTIN)
    assert result.exit_code == 0, result.output
    assert "note: GTIN 00300231145014 carries NDC 0023-1145-01: matches" in result.output
    drug = clinic.scalar("SELECT MAX(drug_id) FROM drugs")
    assert clinic.rows(
        "SELECT name, ndc_number, reorder_point, max_level, active, allow_multiple, "
        "allow_combining, on_order, aesthetic_category, unit_cost, supplier_name "
        "FROM drugs WHERE drug_id = :d", {"d": drug}) == [
        ("Botox 100U", "0023-1145-01", 300.0, 1000.0, 1, 1, 0, 0, "Neurotoxin",
         312.50, "Allergan")]
    assert clinic.rows(
        "SELECT units_per_package, counting_unit, package_unit, beyond_use_hours, diluent_ml, "
        "single_patient, min_level FROM aesthetic_inventory_product_stock WHERE drug_id = :d",
        {"d": drug})[0][:4] == (100, "U", "vial", 24)
    shown = json.loads(_run(migrated_db_url, "products", "show", str(drug), "--json").output)
    assert (shown["countedInUnits"], shown["packageSize"], shown["diluentMl"],
            shown["minLevel"], shown["gtins"]) == (True, 100, "2.500", 100, [GTIN])
    again = _run(migrated_db_url, "products", "add", "Botox 100U")
    assert again.exit_code == 1 and "already exists" in again.output


def test_set_changes_only_what_is_given_and_list_shows_stock(clinic: Clinic,
                                                              migrated_db_url: str) -> None:
    drug = clinic.add_drug("Filler")
    result = _run(migrated_db_url, "products", "set", "Filler", "--unit", "syringe",
                  "--package-unit", "box", "--package-size", "2", "--single-patient",
                  "--gtin", OTHER_GTIN)
    assert result.exit_code == 0, result.output
    clinic.add_lot(drug, 5, lot_number="F1")
    listed = json.loads(_run(migrated_db_url, "products", "list", "--json").output)
    mine = next(p for p in listed if p["id"] == drug)
    assert (mine["stock"], mine["singlePatient"], mine["gtins"]) == (
        "2 box + 1 syringe", True, [OTHER_GTIN])
    text = _run(migrated_db_url, "products", "list").output
    assert "Filler" in text and "2 / box" in text
    kept = _run(migrated_db_url, "products", "set", str(drug), "--cost", "80")
    assert kept.exit_code == 0, kept.output
    assert clinic.scalar("SELECT counting_unit FROM aesthetic_inventory_product_stock "
                         "WHERE drug_id = :d", {"d": drug}) == "syringe"
    removed = _run(migrated_db_url, "products", "set", str(drug), "--remove-gtin", OTHER_GTIN)
    assert removed.exit_code == 0 and "GTIN -" in removed.output


def test_bad_input_is_one_line_and_writes_nothing(clinic: Clinic, migrated_db_url: str) -> None:
    drug = clinic.add_drug("Botox")
    other = clinic.add_drug("Dysport")
    clinic.execute("UPDATE drugs SET ndc_number = '0023-9999-01', reorder_point = 5 "
                   "WHERE drug_id = :d", {"d": drug})
    assert _run(migrated_db_url, "products", "set", str(other), "--gtin",
                OTHER_GTIN).exit_code == 0
    clinic.add_lot(drug, 3, lot_number="B1")
    before = _snapshot(clinic)
    for args, needle in [
        (("set", str(drug), "--min", "9"), "min 9 is above reorder point 5"),
        (("set", str(drug), "--max", "4"), "reorder point 5 is above max 4"),
        (("set", str(drug), "--gtin", "00300231145016"), "check digit error"),
        (("set", str(drug), "--gtin", OTHER_GTIN), f"already linked to product {other}"),
        (("set", str(drug), "--gtin", GTIN), "link it anyway with --yes"),
        (("set", str(drug), "--unit", "U", "--package-size", "100"),
         f"needs 'aesthetic-inventory products convert {drug} --package-size N'"),
        (("set", "Ghost", "--cost", "1"), "no product named 'Ghost'"),
        (("set", str(drug), "--cost", "abc"), "--cost: expected a number"),
        (("set", str(drug), "--cost", "-1"), "--cost must not be negative"),
        (("add", "X", "--min", "5", "--reorder-point", "2"), "min <= reorder point"),
    ]:
        result = _run(migrated_db_url, "products", *args)
        assert result.exit_code == 1, (args, result.output)
        assert needle in result.output, (args, result.output)
        assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert _snapshot(clinic) == before
    confirmed = _run(migrated_db_url, "products", "set", str(drug), "--gtin", GTIN, "--yes")
    assert confirmed.exit_code == 0 and "linked as confirmed" in confirmed.output


def test_receive_packages_of_the_products_size(clinic: Clinic, migrated_db_url: str,
                                               tmp_path: Path) -> None:
    drug = clinic.add_drug("Botox")
    assert _run(migrated_db_url, "products", "set", str(drug), "--unit", "U",
                "--package-unit", "vial", "--package-size", "100").exit_code == 0
    one = _run(migrated_db_url, "receive", "--product", str(drug), "--lot", "C1", "--expires",
               LATER, "--packages", "3", "--unit-cost", "3.125")
    assert one.exit_code == 0, one.output
    assert "+300 @ 3.125" in one.output
    delivery = tmp_path / "d.csv"
    delivery.write_text("product,lot,expires,packages,unit_cost\n"
                        f"Botox,C2,{LATER},2,3.125\n", encoding="utf-8")
    two = _run(migrated_db_url, "receive", "--file", str(delivery))
    assert two.exit_code == 0, two.output
    assert clinic.rows("SELECT lot_number, on_hand FROM drug_inventory WHERE drug_id = :d "
                       "ORDER BY inventory_id", {"d": drug}) == [("C1", 300), ("C2", 200)]
    assert clinic.scalar("SELECT units_per_package FROM aesthetic_inventory_product_stock "
                         "WHERE drug_id = :d", {"d": drug}) == 100
    assert all(v == 0 for v in clinic.ledgers().values())


def test_packages_of_an_unknown_product_name_the_product(clinic: Clinic, migrated_db_url: str,
                                                         tmp_path: Path) -> None:
    drug = clinic.add_drug("Botox")
    assert _run(migrated_db_url, "products", "set", str(drug), "--gtin", GTIN, "--yes",
                "--gtin", GTIN).exit_code == 0
    again = _run(migrated_db_url, "products", "set", str(drug), "--gtin", GTIN)
    assert again.exit_code == 0, again.output  # linking a linked GTIN again changes nothing
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_product_gtin") == 1
    delivery = tmp_path / "d.csv"
    delivery.write_text("product,lot,expires,packages,unit_cost\n"
                        f"Ghost,G1,{LATER},2,1\n", encoding="utf-8")
    result = _run(migrated_db_url, "receive", "--file", str(delivery))
    assert result.exit_code == 1
    assert "line 2, column product: no product named 'Ghost'" in result.output
    assert clinic.scalar("SELECT COUNT(*) FROM drug_inventory") == 0


def test_gtin_from_a_scan_of_the_box(clinic: Clinic, migrated_db_url: str) -> None:
    drug = clinic.add_drug("Juvederm")
    linked = _run(migrated_db_url, "products", "set", str(drug), "--gtin",
                  "(01)04012345678901(17)280331(10)J1")
    assert linked.exit_code == 0, linked.output
    assert clinic.rows("SELECT gtin, drug_id FROM aesthetic_inventory_product_gtin") == [
        (OTHER_GTIN, drug)]
    bad = _run(migrated_db_url, "products", "set", str(drug), "--gtin",
               "(01)04012345678902(10)J1")
    assert bad.exit_code == 1 and "check digit error" in bad.output


def test_doctor_reports_missing_product_schema_and_migrate_repairs(
        clinic: Clinic, migrated_db_url: str) -> None:
    clinic.execute("DROP TABLE aesthetic_inventory_product_gtin")
    clinic.execute("ALTER TABLE aesthetic_inventory_product_stock DROP COLUMN counting_unit")
    refused = _run(migrated_db_url, "products", "list")
    assert refused.exit_code == 1
    assert "the product tables are missing: run 'aesthetic-inventory migrate'" in refused.output
    doctor = _run(migrated_db_url, "doctor")
    assert doctor.exit_code == 1
    assert "aesthetic_inventory_product_gtin" in doctor.output
    assert "counting_unit" in doctor.output
    assert _run(migrated_db_url, "migrate").exit_code == 0
    assert _run(migrated_db_url, "products", "list").exit_code == 0
