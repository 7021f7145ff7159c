"""The review page in a real headless Chromium shows, for a product counted in units,
the vial each draw came from: units, the reconstituted volume, units left and the
hours to beyond use."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic
from conftest import Site, browser_sign_in
from playwright.sync_api import Browser, expect
from webserver import LiveServer

pytestmark = pytest.mark.e2e


def test_the_page_shows_the_open_vial_of_a_draw(site: Site, server: LiveServer,
                                               browser: Browser) -> None:  # noqa: F811
    clinic = site.clinic
    drug = clinic.add_drug("Botox Cosmetic")
    _in_vials(clinic, drug)
    clinic.add_lot(drug, 200, expiration=date.today() + timedelta(days=90), lot_number="C77")
    clinic.add_mapping("64650", drug, "20")
    _treated_an_hour_ago(site, 8, "Ines", "Mota", 8008, "64650")

    page = browser_sign_in(browser, server, "nurse", 1024, 768)
    card = page.locator('section.visit[data-encounter="8008"]')
    expect(card).to_be_visible()
    card.locator("button.load").click()
    draw = card.locator("[data-usage-id] .container-draw").first
    expect(draw).to_contain_text("20 U = 0.5 mL, 80 U left, 23 h to beyond use")
    page.close()


def test_a_scanned_vial_is_named_on_the_page(site: Site, server: LiveServer,
                                             browser: Browser) -> None:  # noqa: F811
    """A keyboard-wedge scan of the other lot's vial: the status line names the vial
    the visit now draws from and its time left, and so does the material's row."""
    clinic = site.clinic
    drug = clinic.add_drug("Dysport 300U")
    _in_vials(clinic, drug)
    gtin = "00614141999996"
    linked = CliRunner().invoke(main, ["--database-url", site.url, "products", "set",
                                       str(drug), "--gtin", gtin])
    assert linked.exit_code == 0, linked.output
    later = date.today() + timedelta(days=300)
    first = clinic.add_lot(drug, 200, expiration=date.today() + timedelta(days=60),
                           lot_number="D1")
    second = clinic.add_lot(drug, 200, expiration=later, lot_number="D2")
    clinic.add_mapping("64653", drug, "20")
    _treated_an_hour_ago(site, 9, "Rui", "Lopes", 9009, "64653")
    assert clinic.on_hand(first) == 180  # sellDrug's lot D1 opened a vial

    page = browser_sign_in(browser, server, "nurse", 1024, 768)
    card = page.locator('section.visit[data-encounter="9009"]')
    card.locator("button.load").click()
    scan = card.get_by_label("Scan the vial or syringe (or type its barcode)")
    scan.fill(f"(01){gtin}(17){later:%y%m%d}(10)D2")
    scan.press("Enter")
    expect(card.locator(".scan-status")).to_contain_text("lot D2 recorded as used for")
    vial = clinic.scalar("SELECT id FROM aesthetic_inventory_container WHERE inventory_id = :i",
                         {"i": second})
    expect(card.locator(".scan-status")).to_have_text(
        f"lot D2 recorded as used for Dysport 300U: vial #{vial}: 20 U, 80 U left, "
        "23 h to beyond use")
    expect(card.locator("[data-usage-id] .container-draw")).to_have_text(
        [f"vial #{vial}: 20 U = 0.5 mL, 80 U left, 23 h to beyond use"])
    assert (clinic.on_hand(first), clinic.on_hand(second)) == (200, 180)
    page.close()


def _in_vials(clinic: Clinic, drug: int) -> None:
    """Count ``drug`` in units: 100 U vials, 24 h beyond use, 2.5 mL of diluent."""
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, package_unit, beyond_use_hours, diluent_ml) "
        "VALUES (:d, 100, 'U', 'vial', 24, 2.5)", {"d": drug})


def _treated_an_hour_ago(site: Site, pid: int, fname: str, lname: str, encounter: int,
                         code: str) -> None:
    """A patient, a visit an hour ago billing ``code``, consumed by the CLI."""
    clinic = site.clinic
    clinic.execute("INSERT INTO patient_data (pid, fname, lname) VALUES (:p, :f, :l)",
                   {"p": pid, "f": fname, "l": lname})
    clinic.execute("INSERT INTO form_encounter (date, pid, encounter) VALUES (:d, :p, :e)",
                   {"d": datetime.now() - timedelta(hours=1), "p": pid, "e": encounter})
    clinic.add_line(pid, encounter, code)
    done = CliRunner().invoke(main, ["--database-url", site.url, "consume", "--pid", str(pid),
                                     "--encounter", str(encounter)])
    assert done.exit_code == 0, done.output
