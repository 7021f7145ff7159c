"""The stock commands' command line: bad input is one specific line (a bad file lists
every line and column), exit 1, nothing written; usage errors exit 2."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic

LATER = (date.today() + timedelta(days=200)).isoformat()


def _run(url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--database-url", url, *args])


def _counts(clinic: Clinic) -> tuple[int, int, int]:
    return (clinic.scalar("SELECT COUNT(*) FROM drug_sales"),
            clinic.scalar("SELECT COUNT(*) FROM drug_inventory"),
            clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_ledger"))


def test_bad_delivery_file_lists_every_line(clinic: Clinic, migrated_db_url: str,
                                            tmp_path: Path) -> None:
    clinic.add_drug("Botox")
    bad = tmp_path / "delivery.csv"
    bad.write_text("product,lot,expires,quantity,unit_cost\n"
                   f"Botox,B1,{LATER},10,20\n"
                   "Botox,B2,2020-01-01,10,20\n"
                   f"Ghost,G1,{LATER},1,1\n", encoding="utf-8")
    before = _counts(clinic)
    result = _run(migrated_db_url, "receive", "--file", str(bad))
    assert result.exit_code == 1
    assert "line 3, column expires" in result.output
    assert "line 4, column product: no product named 'Ghost'" in result.output
    assert result.output.strip().splitlines()[-1].startswith(f"Error: {bad}: line 3")
    assert "Traceback" not in result.output
    assert _counts(clinic) == before


def test_single_receipt_and_refusals(clinic: Clinic, migrated_db_url: str) -> None:
    drug = clinic.add_drug("Botox")
    ok = _run(migrated_db_url, "receive", "--product", str(drug), "--lot", "B1", "--expires",
              LATER, "--packages", "2", "--units-per-package", "5", "--unit-cost", "7.5",
              "--user", "admin")
    assert ok.exit_code == 0, ok.output
    # a named user's costs pass OpenEMR's ACL; this fixture schema has none: hidden
    assert "+10 @ 7.5" in ok.output and "average 7.5000" not in ok.output
    assert clinic.scalar("SELECT user FROM drug_sales ORDER BY sale_id DESC LIMIT 1") == "admin"
    lot = clinic.scalar("SELECT MAX(inventory_id) FROM drug_inventory")
    operator = _run(migrated_db_url, "receive", "--product", str(clinic.add_drug("Filler")),
                    "--lot", "F1", "--expires", LATER, "--quantity", "10", "--unit-cost", "7.5")
    assert "average 7.5000, last 7.5000" in operator.output, operator.output
    before = _counts(clinic)
    for args, needle in [
        (("receive", "--product", "Botox", "--lot", "B2", "--expires", LATER, "--quantity",
          "1", "--unit-cost", "-1"), "--unit-cost: must not be negative"),
        (("receive", "--product", "Botox", "--lot", "B2", "--expires", LATER, "--quantity",
          "1", "--unit-cost", "1", "--warehouse", "attic"), "--warehouse: no warehouse"),
        (("adjust", "--lot", str(lot), "--by", "-11", "--reason", "WASTAGE"),
         "would go below zero"),
        (("transfer", "--lot", str(lot), "--to", "onsite", "--quantity", "1"),
         "already in warehouse onsite"),
        (("destroy", "--lot", "999", "--method", "m", "--witness", "w"), "no lot 999"),
    ]:
        result = _run(migrated_db_url, *args)
        assert result.exit_code == 1, result.output
        assert needle in result.output and len(result.output.strip().splitlines()) == 1
    usage = _run(migrated_db_url, "receive", "--file", "x.csv", "--product", "Botox")
    assert usage.exit_code == 2
    assert _counts(clinic) == before


def test_count_dry_run_and_ledger_csv(clinic: Clinic, migrated_db_url: str,
                                      tmp_path: Path) -> None:
    drug = clinic.add_drug("Botox")
    assert _run(migrated_db_url, "receive", "--product", str(drug), "--lot", "B1",
                "--expires", LATER, "--quantity", "10", "--unit-cost", "2").exit_code == 0
    lot = clinic.scalar("SELECT MAX(inventory_id) FROM drug_inventory")
    counts = tmp_path / "c.csv"
    counts.write_text(f"lot_id,counted\n{lot},7\n", encoding="utf-8")
    dry = _run(migrated_db_url, "count", "--file", str(counts), "--dry-run")
    assert dry.exit_code == 0 and "-3 (-6.00)" in dry.output
    assert clinic.on_hand(lot) == 10
    real = _run(migrated_db_url, "count", "--file", str(counts))
    assert real.exit_code == 0 and clinic.on_hand(lot) == 7
    out = _run(migrated_db_url, "ledger", "--lot", str(lot), "--format", "csv").output
    rows = out.strip().splitlines()
    assert rows[0].startswith("id,created_at,movement,inventory_id")
    assert [r.split(",")[2] for r in rows[1:]] == ["RECEIVE", "ADJUST"]
