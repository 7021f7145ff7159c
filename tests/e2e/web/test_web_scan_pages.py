"""The receiving and count pages in a real headless Chromium (Debian's chromium driven
by Playwright) at a phone's width: the scan is typed into the scan field as a
keyboard-wedge scanner types it, the lot is received, then counted package by package;
a bad scan shows its message and writes nothing."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from conftest import PASSWORD, Site
from playwright.sync_api import Browser, expect
from webserver import LiveServer

pytestmark = pytest.mark.e2e
GTIN = "04006381333931"
EXPIRY = date.today() + timedelta(days=365)


def test_receive_then_count_by_scan_in_the_browser(site: Site, server: LiveServer,
                                                   browser: Browser, tmp_path: Path) -> None:
    clinic = site.clinic
    drug = clinic.add_drug("Filler 1 mL")
    linked = CliRunner().invoke(main, ["--database-url", site.url, "products", "set",
                                       str(drug), "--unit", "syringe", "--package-unit", "box",
                                       "--package-size", "2", "--gtin", GTIN])
    assert linked.exit_code == 0, linked.output
    scan = f"(01){GTIN}(17){EXPIRY.strftime('%y%m%d')}(10)FIL-77"

    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page.goto(server.url + "/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    page.goto(server.url + "/receive")
    page.locator("#scan").press_sequentially(f"(01){GTIN}(10)NOEXPIRY")
    page.fill("#unit-cost", "60")
    page.locator("#scan").press("Enter")
    expect(page.locator("#result.error")).to_contain_text("has no expiry (AI 17)")
    page.fill("#scan", "")
    page.locator("#scan").press_sequentially(scan)
    page.fill("#packages", "3")
    page.locator("#scan").press("Enter")
    expect(page.locator("#result")).to_have_text(
        f"received 6 unit(s) of Filler 1 mL lot FIL-77 (expires {EXPIRY.isoformat()})")
    expect(page.locator("#scan")).to_have_value("")
    lot = clinic.scalar("SELECT inventory_id FROM drug_inventory WHERE lot_number = 'FIL-77'")
    assert clinic.on_hand(lot) == 6
    shot = Path(os.environ.get("AESTHETIC_INVENTORY_SCAN_SCREENSHOT",
                               tmp_path / "receive.png"))
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000

    page.goto(server.url + "/count")
    for _ in range(2):  # two boxes on the shelf: one box (2 syringes) is missing
        page.locator("#scan").press_sequentially(scan)
        page.locator("#scan").press("Enter")
    expect(page.locator("#scanned")).to_have_text("2")
    page.click("#preview")
    expect(page.locator("#log")).to_contain_text(
        f"lot {lot}: on hand 6, counted 4, 2 missing")
    assert clinic.on_hand(lot) == 6
    page.click("#apply")
    expect(page.locator("#result")).to_contain_text("saved: 1 lot(s) adjusted")
    assert clinic.on_hand(lot) == 4
    assert all(v == 0 for v in clinic.ledgers().values())
    page.close()
