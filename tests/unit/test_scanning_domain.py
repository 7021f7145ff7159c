"""GS1 scans as scanners send them, and the product rules (GTIN, NDC, levels, stock text)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.products.domain import (
    PackageSettings,
    ProductChange,
    ProductInputError,
    apply_change,
    check_levels,
    describe_stock,
    ndc_in_gtin,
    ndc_matches,
    normalize_gtin,
)
from aesthetic_inventory.scanning.domain import Scan, ScanError, check_not_expired, parse_scan

GTIN = "00300231145014"  # a US drug GTIN: indicator 0, prefix 03, NDC 0023114501, check 4
GS = "\x1d"
WANT = Scan(GTIN, "C1234A", date(2027, 3, 31))


@pytest.mark.parametrize("raw", [
    f"]d201{GTIN}17270331{GS}10C1234A",  # DataMatrix, GS after the fixed-length expiry
    f"]d201{GTIN}1727033110C1234A",  # DataMatrix without separators (lot last)
    f"]d201{GTIN}10C1234A{GS}17270331",  # lot first, GS-terminated
    f"]C101{GTIN}17270331{GS}10C1234A",  # GS1-128
    f"(01){GTIN}(17)270331(10)C1234A",  # bracketed text from the label
    f"https://id.gs1.org/01/{GTIN}/10/C1234A?17=270331",  # GS1 Digital Link
    f"01{GTIN}17270331{GS}10C1234A\r\n",  # no symbology prefix, trailing Enter
])
def test_every_scanner_format_gives_gtin_lot_and_expiry(raw: str) -> None:
    assert parse_scan(raw) == WANT


def test_serial_and_gtin_only_barcodes() -> None:
    assert parse_scan(f"]d201{GTIN}17270331{GS}10C1234A{GS}21SN0042").serial == "SN0042"
    assert parse_scan("0300231145014") == Scan(GTIN)  # the UPC-A on the box


@pytest.mark.parametrize("raw, needle", [
    (f"]d20100300231145016" f"17270331{GS}10X", "check digit error"),
    ("(01)00300231145016(17)270331(10)C1", "check digit error"),
    (f"]d201{GTIN}10ABC17270331", "contains the expiry (17)270331"),
    (f"]d201{GTIN}10ABC1727033121SN1", "configure it"),
    ("hello", "not a GS1 barcode"),
    ("   ", "the scan is empty"),
    ("(10)LOTONLY", "no GTIN"),
])
def test_bad_scans_are_refused_with_their_reason(raw: str, needle: str) -> None:
    with pytest.raises(ScanError) as caught:
        parse_scan(raw)
    assert needle in str(caught.value)


def test_expired_lot_is_refused_but_expiry_day_is_usable() -> None:
    scan = parse_scan(f"]d201{GTIN}17260131{GS}10OLD1")
    check_not_expired(scan, date(2026, 1, 31))
    with pytest.raises(ScanError, match="lot OLD1 expired on 2026-01-31"):
        check_not_expired(scan, date(2026, 2, 1))


def test_gtin_forms_and_check_digit() -> None:
    assert normalize_gtin("300231145014") == GTIN  # GTIN-12
    assert normalize_gtin("0 0300 23114501 4") == GTIN
    with pytest.raises(ProductInputError, match="check digit error"):
        normalize_gtin("00300231145016")
    with pytest.raises(ProductInputError, match="expected 8, 12, 13 or 14 digits"):
        normalize_gtin("12345")


@pytest.mark.parametrize("ndc, matches", [
    ("0023-1145-01", True), ("0023114501", True), ("00023-1145-01", True),
    ("00023114501", True), ("0023-1145-02", False), ("", False), ("BTX-100", False),
])
def test_ndc_inside_a_us_gtin(ndc: str, matches: bool) -> None:
    inside = ndc_in_gtin(GTIN)
    assert inside == "0023114501"
    assert ndc_matches(inside, ndc) is matches
    assert ndc_in_gtin("04012345678901") is None  # not a US drug prefix


def test_levels_min_reorder_max() -> None:
    check_levels(2, 3, 10)
    check_levels(None, 0, 0)  # OpenEMR's 0 = not set
    check_levels(5, 0, 10)
    for low, point, top in ((4, 3, 10), (None, 11, 10), (11, 0, 10)):
        with pytest.raises(ProductInputError, match="min <= reorder point <= max"):
            check_levels(low, point, top)


def test_settings_change_and_stock_in_packages_and_units() -> None:
    toxin = apply_change(PackageSettings(), ProductChange(
        counting_unit="U", package_unit="vial", units_per_package=100, beyond_use_hours=24,
        diluent_ml=Decimal("2.5")))
    assert toxin.counted_in_units
    assert describe_stock(240, toxin) == "2 vial + 40 U"
    assert describe_stock(40, toxin) == "40 U"
    assert describe_stock(0, toxin) == "0 U"
    assert describe_stock(7, PackageSettings(units_per_package=10)) == "7"
    assert not apply_change(toxin, ProductChange(units_per_package=1)).counted_in_units
    assert apply_change(toxin, ProductChange(clear_beyond_use=True)).beyond_use_hours is None
    with pytest.raises(ProductInputError, match="--package-size must be at least 1"):
        apply_change(toxin, ProductChange(units_per_package=0))
    with pytest.raises(ProductInputError, match="--diluent-ml"):
        apply_change(toxin, ProductChange(diluent_ml=Decimal("-1")))
