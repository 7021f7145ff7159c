"""``products add`` on OpenEMR's REAL schema: the ``drugs`` row as the drug screen
(interface/drugs/add_edit_drug.php) writes it and the ``drug_templates`` row its
simplified form writes, so OpenEMR's fee sheet offers the product (its product query,
re-stated from interface/forms/fee_sheet/new.php); a scan-received lot of it is then an
ordinary lot OpenEMR's own lot list shows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from click.testing import CliRunner
from clinic import Clinic

pytestmark = pytest.mark.e2e
GTIN = "00300231145014"
EXPIRY = date.today() + timedelta(days=500)

# interface/forms/fee_sheet/new.php: the Products drop-list
FEE_SHEET_PRODUCTS = (
    "SELECT dt.drug_id, dt.selector, d.name FROM drug_templates AS dt, drugs AS d WHERE "
    "d.drug_id = dt.drug_id AND d.active = 1 AND d.consumable = 0 "
    "ORDER BY d.name, dt.selector, dt.drug_id")


@pytest.fixture(scope="module")
def site(openemr_db_url: str) -> Iterator[Clinic]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    try:
        yield Clinic(engine)
    finally:
        engine.dispose()


def _run(url: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, ["--database-url", url, *args])


def test_added_product_is_on_openemrs_fee_sheet_and_receives_by_scan(
        site: Clinic, openemr_db_url: str) -> None:
    added = _run(openemr_db_url, "products", "add", "Botox 100U", "--ndc", "0023-1145-01",
                 "--unit", "U", "--package-unit", "vial", "--package-size", "100",
                 "--reorder-point", "200", "--max", "800", "--gtin", GTIN)
    assert added.exit_code == 0, added.output
    drug = site.scalar("SELECT drug_id FROM drugs WHERE name = 'Botox 100U'")
    assert site.rows(
        "SELECT ndc_number, drug_code, on_order, reorder_point, max_level, form, size, unit, "
        "route, cyp_factor, related_code, allow_multiple, allow_combining, active, "
        "consumable, dispensable FROM drugs WHERE drug_id = :d", {"d": drug}) == [
        ("0023-1145-01", "", 0, 200.0, 800.0, "", "", "", "", 0.0, "", 1, 0, 1, 0, 1)]
    assert (drug, "Botox 100U", "Botox 100U") in site.rows(FEE_SHEET_PRODUCTS)
    assert site.rows("SELECT dosage, period, quantity, refills, taxrates, pkgqty FROM "
                     "drug_templates WHERE drug_id = :d", {"d": drug}) == [
        ("", 0, 1, 0, "", 1.0)]
    scan = f"]d201{GTIN}17{EXPIRY.strftime('%y%m%d')}\x1d10C1234A"
    received = _run(openemr_db_url, "receive", "--scan", scan, "--packages", "2",
                    "--unit-cost", "3.10")
    assert received.exit_code == 0, received.output
    # OpenEMR's lot list (interface/drugs/drug_inventory.php) reads these columns
    assert site.rows("SELECT lot_number, expiration, on_hand, destroy_date FROM drug_inventory "
                     "WHERE drug_id = :d", {"d": drug}) == [("C1234A", EXPIRY, 200, None)]
    assert all(v == 0 for v in site.ledgers().values())
