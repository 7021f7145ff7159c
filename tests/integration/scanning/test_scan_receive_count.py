"""Receiving and counting by GS1 scan through the command line, on the migrated fixture
database: a scan writes exactly the rows the typed ``receive`` writes, each package scan
adds a package to its lot's count, and every bad scan is refused with its message and
no write."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic

GTIN = "00300231145014"  # NDC 0023-1145-01 inside
GS = "\x1d"
EXPIRY = date.today() + timedelta(days=400)
YYMMDD = EXPIRY.strftime("%y%m%d")


def _run(url: str, *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--database-url", url, *args], input=stdin)


def _datamatrix(lot: str, gtin: str = GTIN, yymmdd: str = YYMMDD) -> str:
    return f"]d201{gtin}17{yymmdd}{GS}10{lot}"


@pytest.fixture
def toxin(clinic: Clinic, migrated_db_url: str) -> int:
    drug = clinic.add_drug("Botox 100U")
    clinic.execute("UPDATE drugs SET ndc_number = '0023-1145-01' WHERE drug_id = :d",
                   {"d": drug})
    result = _run(migrated_db_url, "products", "set", str(drug), "--unit", "U",
                  "--package-unit", "vial", "--package-size", "100", "--gtin", GTIN)
    assert result.exit_code == 0, result.output
    return drug


def _rows(clinic: Clinic, lot: str) -> tuple:
    """The rows a receipt of ``lot`` wrote, without ids and times."""
    inv = clinic.scalar("SELECT inventory_id FROM drug_inventory WHERE lot_number = :l",
                        {"l": lot})
    return (
        clinic.rows("SELECT drug_id, expiration, on_hand, warehouse_id, unit_cost, "
                    "supplier_name FROM drug_inventory WHERE inventory_id = :i", {"i": inv}),
        clinic.rows("SELECT drug_id, pid, encounter, quantity, fee, trans_type, distributor_id "
                    "FROM drug_sales WHERE inventory_id = :i", {"i": inv}),
        clinic.rows("SELECT movement, drug_id, quantity, unit_cost, reference_type "
                    "FROM aesthetic_inventory_stock_ledger WHERE inventory_id = :i", {"i": inv}),
    )


@pytest.mark.parametrize("scan", [
    _datamatrix("C1"),
    f"]d201{GTIN}17{YYMMDD}10C1",  # no separator: the lot is last
    f"]C101{GTIN}17{YYMMDD}{GS}10C1",
    f"(01){GTIN}(17){YYMMDD}(10)C1",
    f"https://id.gs1.org/01/{GTIN}/10/C1?17={YYMMDD}",
])
def test_receive_by_scan_writes_what_receive_writes(clinic: Clinic, migrated_db_url: str,
                                                    toxin: int, scan: str) -> None:
    scanned = _run(migrated_db_url, "receive", "--scan", scan, "--packages", "2",
                   "--unit-cost", "3.10", "--supplier", "Allergan", "--user", "nurse")
    assert scanned.exit_code == 0, scanned.output
    assert "Botox 100U lot C1 -> new lot" in scanned.output and "+200 @ 3.10" in scanned.output
    typed = _run(migrated_db_url, "receive", "--product", str(toxin), "--lot", "C2",
                 "--expires", EXPIRY.isoformat(), "--quantity", "200", "--unit-cost", "3.10",
                 "--supplier", "Allergan", "--user", "nurse")
    assert typed.exit_code == 0, typed.output
    assert _rows(clinic, "C1") == _rows(clinic, "C2")
    assert _rows(clinic, "C1")[0][0][:3] == (toxin, EXPIRY, 200)


def test_bad_scans_are_refused_and_nothing_is_written(clinic: Clinic, migrated_db_url: str,
                                                      toxin: int) -> None:
    other = clinic.add_drug("Juvederm")
    clinic.add_lot(other, 4, lot_number="J7")
    assert _run(migrated_db_url, "products", "set", str(other), "--gtin",
                "04012345678901").exit_code == 0
    clinic.execute("INSERT INTO drugs (name, ndc_number) VALUES ('Dysport', '15054-0500-1')")
    past = (date.today() - timedelta(days=1)).strftime("%y%m%d")
    unknown = "00315054050018"  # Dysport's NDC inside, not linked yet
    before = (clinic.scalar("SELECT COUNT(*) FROM drug_sales"),
              clinic.scalar("SELECT COUNT(*) FROM drug_inventory"),
              clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_ledger"))
    dysport = clinic.scalar("SELECT drug_id FROM drugs WHERE name = 'Dysport'")
    for scan, needle in [
        (_datamatrix("X1", gtin="04006381333931"),
         "unknown GTIN 04006381333931: link it to its product with 'aesthetic-inventory "
         "products set ID --gtin 04006381333931'"),
        (_datamatrix("X1", gtin=unknown),
         f"is product {dysport} (Dysport): link it with 'aesthetic-inventory products set "
         f"{dysport} --gtin {unknown}'"),
        (_datamatrix("OLD1", yymmdd=past), "lot OLD1 expired on"),
        (_datamatrix("J7"), f"lot J7 belongs to product {other} (Juvederm), not to Botox 100U"),
        (f"]d20100300231145016" f"17{YYMMDD}{GS}10C9", "check digit error"),
        (f"]d201{GTIN}10ABC17{YYMMDD}", "configure it to transmit GS"),
        (f"]d201{GTIN}10ABC17{YYMMDD}21SN1", "the scanner drops the GS1 group separator"),
    ]:
        result = _run(migrated_db_url, "receive", "--scan", scan, "--packages", "1",
                      "--unit-cost", "1")
        assert result.exit_code == 1, (scan, result.output)
        assert needle in result.output, (scan, result.output)
        assert len(result.output.strip().splitlines()) == 1
    assert (clinic.scalar("SELECT COUNT(*) FROM drug_sales"),
            clinic.scalar("SELECT COUNT(*) FROM drug_inventory"),
            clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_ledger")) == before


def test_count_by_scan_adds_a_package_per_scan(clinic: Clinic, migrated_db_url: str,
                                               toxin: int) -> None:
    for lot in ("C1", "C2"):
        assert _run(migrated_db_url, "receive", "--scan", _datamatrix(lot), "--packages", "3",
                    "--unit-cost", "3").exit_code == 0
    first, second = (clinic.scalar("SELECT inventory_id FROM drug_inventory WHERE "
                                   "lot_number = :l", {"l": lot}) for lot in ("C1", "C2"))
    # two vials of C1 on the shelf (one went missing), all three of C2: scans from stdin
    scans = "\n".join([_datamatrix("C1"), f"(01){GTIN}(17){YYMMDD}(10)C1",
                       _datamatrix("C2"), _datamatrix("C2"), _datamatrix("C2")]) + "\n"
    dry = _run(migrated_db_url, "count", "--scans", "-", "--dry-run", "--json", stdin=scans)
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["differences"] == [
        {"inventory_id": first, "on_hand": 300, "counted": 200, "difference": -100,
         "value": "-300.00"}]
    done = _run(migrated_db_url, "count", "--scan", _datamatrix("C1"), "--scan",
                _datamatrix("C1"), "--scan", _datamatrix("C2"), "--scan", _datamatrix("C2"),
                "--scan", _datamatrix("C2"))
    assert done.exit_code == 0, done.output
    assert (clinic.on_hand(first), clinic.on_hand(second)) == (200, 300)
    assert all(v == 0 for v in clinic.ledgers().values())
    # expired stock on the shelf is counted too (then destroyed, not used)
    old = clinic.add_lot(toxin, 100, lot_number="OLD", expiration=date.today() - timedelta(1))
    past = (date.today() - timedelta(days=1)).strftime("%y%m%d")
    expired = _run(migrated_db_url, "count", "--scan", _datamatrix("OLD", yymmdd=past))
    assert expired.exit_code == 0, expired.output
    assert clinic.on_hand(old) == 100 and "0 adjusted" in expired.output
    refused = _run(migrated_db_url, "count", "--scan", _datamatrix("C1"), "--scan",
                   _datamatrix("NOPE"))
    assert refused.exit_code == 1
    assert "scan 2: no lot NOPE of Botox 100U" in refused.output
    assert clinic.on_hand(first) == 200
