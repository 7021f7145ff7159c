"""A real headless Chromium signs in as the nurse, records actual usage on the review
page and sees the stock change (Debian's chromium driven by Playwright)."""

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


def test_nurse_records_usage_in_the_browser(site: Site, server: LiveServer, browser: Browser,
                                            tmp_path: Path) -> None:
    clinic = site.clinic
    drug = clinic.add_drug("Botulinum toxin (units)")
    clinic.execute("UPDATE drugs SET unit = 'U' WHERE drug_id = :d", {"d": drug})
    lot = clinic.add_lot(drug, 300, expiration=date.today() + timedelta(days=90),
                         lot_number="BTX-0425")
    clinic.add_mapping("11950", drug, "100")
    clinic.execute("INSERT INTO patient_data (pid, fname, lname) VALUES (5, 'Bea', 'Costa')")
    clinic.add_visit(5, 5005, date.today())
    clinic.add_line(5, 5005, "11950")
    done = CliRunner().invoke(main, ["--database-url", site.url, "consume", "--pid", "5",
                                     "--encounter", "5005"])
    assert done.exit_code == 0, done.output
    assert clinic.on_hand(lot) == 200

    # A tablet-sized viewport: the page must work without a desktop screen.
    page = browser.new_page(viewport={"width": 1024, "height": 768}, device_scale_factor=1)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(server.url + "/login")
    page.fill("#username", "nurse")
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    card = page.locator('section.visit[data-encounter="5005"]')
    expect(card).to_be_visible()
    card.locator("button.load").click()
    row = card.locator(".material[data-usage-id]").first
    expect(row.locator("input.actual")).to_have_value("100")
    expect(row.locator(".stock")).to_have_text(" 200 U")
    expect(row.locator("select.lot option")).to_have_count(2)  # automatic + BTX-0425
    row.locator("input.actual").fill("64")
    row.locator("select.reason").select_option("LESS_THAN_PLANNED")
    row.locator("select.lot").select_option("BTX-0425")
    row.locator("input.notes").fill("vial opened for the previous patient <b>ok</b>")
    card.locator("button.save").click()
    expect(card.locator(".status.saved")).to_contain_text("Saved")
    expect(card.locator(".material[data-usage-id] .stock").first).to_have_text(" 236 U")
    assert clinic.on_hand(lot) == 236
    assert all(v == 0 for v in clinic.ledgers().values())
    expect(card.locator(".material[data-usage-id] input.notes").first).to_have_value(
        "vial opened for the previous patient <b>ok</b>")
    shot = Path(os.environ.get("AESTHETIC_INVENTORY_SCREENSHOT", tmp_path / "review.png"))
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert all(url.startswith(server.url) for url in requests), requests
    page.close()
