"""The container commands on the command line: ``containers`` (text and JSON),
``containers close``, ``containers show``, ``report waste`` in every format; bad input is
one line, exit 1 (usage errors 2), nothing changed."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic


def _run(url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--database-url", url, *args])


def _toxin(clinic: Clinic) -> tuple[int, int]:
    drug = clinic.add_drug("Botox")
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, package_unit, beyond_use_hours, average_cost) "
        "VALUES (:d, 100, 'U', 'vial', 24, 4.5)", {"d": drug})
    lot = clinic.add_lot(drug, 200, lot_number="C123")
    return drug, lot


def test_list_close_show_and_waste_report(clinic: Clinic, migrated_db_url: str,
                                          tmp_path: Path) -> None:
    drug, lot = _toxin(clinic)
    used = _run(migrated_db_url, "use", "--product", str(drug), "--quantity", "30",
                "--reason", "training day", "--user", "nurse")
    assert used.exit_code == 0, used.output
    assert "30 unit(s) used" in used.output and "(opened 1)" in used.output
    listed = _run(migrated_db_url, "containers", "--json")
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert (row["product"], row["lot_number"], row["units_drawn"], row["units_left"],
            row["patients"], row["unit"]) == ("Botox", "C123", 30, 70, 0, "U")
    assert 23 < row["hours_left"] <= 24
    text = _run(migrated_db_url, "containers")
    assert "Botox" in text.output and "h left" in text.output
    shown = _run(migrated_db_url, "containers", "show", str(row["id"]), "--json")
    assert [(d["pid"], d["units"], d["patient"]) for d in json.loads(shown.output)] == [
        (0, 30, "(stock use)")]

    closed = _run(migrated_db_url, "containers", "close", str(row["id"]), "--reason",
                  "contaminated", "--waste", "60", "--user", "nurse")
    assert closed.exit_code == 0, closed.output
    assert "60 unit(s) wasted, 10 unaccounted (COUNT)" in closed.output
    assert clinic.on_hand(lot) == 100
    assert _run(migrated_db_url, "containers").output.strip() == "no open containers"
    assert len(json.loads(_run(migrated_db_url, "containers", "--all", "--json").output)) == 1

    today = date.today().isoformat()
    report = _run(migrated_db_url, "report", "waste", "--format", "json", "--to", today)
    assert report.exit_code == 0, report.output
    data = json.loads(report.output)
    (line,) = data["waste"]
    assert (line["units_wasted"], line["units_opened"], line["share"], line["value"]) == (
        60, 100, 60, 270)  # 60 U at the product's average cost of 4.50
    for by, key in (("reason", "contaminated"), ("provider", "(stock use)")):
        out = json.loads(_run(migrated_db_url, "report", "waste", "--by", by, "--format",
                              "json").output)
        assert [g["key"] for g in out["waste"]] == [key]
    html = tmp_path / "waste.html"
    written = _run(migrated_db_url, "report", "waste", "--format", "html", "--output",
                   str(html))
    assert written.exit_code == 0, written.output
    page = html.read_text(encoding="utf-8")
    assert page.count('class="bar"') == 1 and "60 U wasted" in page
    csv_out = _run(migrated_db_url, "report", "waste", "--format", "csv").output
    assert "Units wasted" in csv_out and "Botox (#" in csv_out


def test_bad_input_is_one_line_and_changes_nothing(clinic: Clinic,
                                                   migrated_db_url: str) -> None:
    drug, lot = _toxin(clinic)
    before = clinic.scalar("SELECT COUNT(*) FROM drug_sales")
    for args, needle, code in [
        (("containers", "close", "42", "--reason", "dropped"), "no container 42", 1),
        (("containers", "close", "42", "--reason", "lost"), "'lost' is not one of", 2),
        (("use", "--product", str(drug), "--quantity", "500", "--reason", "x"),
         "cannot use 500", 1),
        (("use", "--product", "999", "--quantity", "1", "--reason", "x"), "no product 999", 1),
        (("report", "waste", "--by", "colour"), "'colour' is not one of", 2),
    ]:
        result = _run(migrated_db_url, *args)
        assert result.exit_code == code, (args, result.output)
        assert needle in result.output and "Traceback" not in result.output
    assert clinic.scalar("SELECT COUNT(*) FROM drug_sales") == before
    assert clinic.on_hand(lot) == 200
    # a plausible day: the report of an empty period says so
    empty = _run(migrated_db_url, "report", "waste", "--from",
                 (datetime.now() - timedelta(days=3)).date().isoformat())
    assert empty.exit_code == 0 and "0 unit(s) wasted" in empty.output
