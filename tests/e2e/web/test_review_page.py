"""The review page as a nurse uses it, in headless Chromium at 1024 and 390 px: visit
time, provider and a "recorded" mark; reasons in words; lots with warehouse and expiry
(quarantined stock not offered); only changed rows recorded; the stock change worded;
errors a nurse understands; a scan typed into the scan field; a way back from reports."""

from __future__ import annotations

import json
import os
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from conftest import Site, bearer, browser_sign_in, login_cookie
from playwright.sync_api import Browser, Page, expect
from webserver import LiveServer

pytestmark = pytest.mark.e2e
PID, ENC = 7, 7007
SCAN = "]d2010950600013435517270331" + "10LOT-A1"


@pytest.fixture(scope="module")
def visit(site: Site) -> dict[str, int]:
    """A 14:30 visit of Dr Doctor billing two mapped procedures: 20 U of toxin and 2
    vials of filler; the filler lot number exists in two rooms and in quarantine."""
    c = site.clinic
    doctor = int(c.scalar("SELECT id FROM users WHERE username = 'doctor'"))
    c.add_warehouse("annex", 10)
    c.add_warehouse("quarantine", 999)
    c.execute("UPDATE list_options SET title = 'Annex room' WHERE option_id = 'annex'")
    toxin = c.add_drug("Toxin 50U")
    filler = c.add_drug("Filler 1mL")
    c.execute("UPDATE drugs SET unit = 'U' WHERE drug_id = :d", {"d": toxin})
    c.execute("UPDATE drugs SET unit = 'vial' WHERE drug_id = :d", {"d": filler})
    soon = date.today() + timedelta(days=45)
    lots = {"toxin": c.add_lot(toxin, 100, lot_number="TX-9", expiration=soon),
            "onsite": c.add_lot(filler, 6, lot_number="FL-1", expiration=soon),
            "annex": c.add_lot(filler, 4, lot_number="FL-1",
                               expiration=soon + timedelta(days=30), warehouse="annex"),
            "quarantine": c.add_lot(filler, 9, lot_number="FL-BAD", expiration=soon,
                                    warehouse="quarantine")}
    toxin_map = c.add_mapping("64615", toxin, "20")
    filler_map = c.add_mapping("11955", filler, "2")
    c.add_patient(PID, "Carla", "Mendes")
    c.add_visit(PID, ENC, datetime.combine(date.today(), time(14, 30)), provider_id=doctor)
    c.add_line(PID, ENC, "64615")
    c.add_line(PID, ENC, "11955")
    done = CliRunner().invoke(main, ["--database-url", site.url, "consume", "--pid", str(PID),
                                     "--encounter", str(ENC)])
    assert done.exit_code == 0, done.output
    return {**lots, "toxin_map": toxin_map, "filler_map": filler_map}


def shot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("AESTHETIC_INVENTORY_SCREENSHOT_DIR", tmp_path))
    path = folder / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000


def test_review_page_at_tablet_width(site: Site, server: LiveServer, browser: Browser,
                                     visit: dict[str, int], tmp_path: Path) -> None:
    c = site.clinic
    page = browser_sign_in(browser, server, "nurse", 1024, 768)
    posts: list[tuple[str, str]] = []
    page.on("request", lambda r: posts.append((r.url, r.post_data or ""))
            if r.method in ("POST", "PUT") else None)
    card = page.locator(f'section.visit[data-encounter="{ENC}"]')
    expect(card.locator(".visit-meta")).to_contain_text("14:30")
    expect(card.locator(".visit-meta")).to_contain_text("Doctor doctor")
    expect(card.locator(".recorded-mark")).to_be_hidden()
    card.get_by_role("button", name="Show materials").click()
    filler = card.get_by_role("group", name="Filler 1mL")
    expect(filler.get_by_label("Why different – Filler 1mL").locator("option")).to_have_text(
        ["As planned", "Used more than planned", "Used less than planned",
         "Wasted (dropped, spilled, contaminated)", "Harder procedure than usual",
         "Other reason (say in the note)"])
    lots = filler.get_by_label("Lot used – Filler 1mL").locator("option")
    expect(lots).to_have_count(3)  # automatic + FL-1 in two rooms; never the quarantine
    in_days = (date.today() + timedelta(days=45)).isoformat()
    expect(lots.nth(1)).to_have_text(f"FL-1 · On Site · exp {in_days} · 4 left")
    expect(lots.nth(2)).to_contain_text("FL-1 · Annex room · exp ")
    # (the usage service's stock figure counts quarantined units too: reported, not ours)
    expect(card.get_by_role("group", name="Toxin 50U").locator(".stock")).to_have_text(" 80 U")
    # saving with nothing touched records nothing
    card.get_by_role("button", name="Save changes").click()
    expect(card.locator(".status")).to_have_text("Nothing to save: no row was changed.")
    # a keyboard-wedge scanner types the GS1 string and Enter into the scan field
    scan = card.get_by_label("Scan the vial or syringe (or type its barcode)")
    scan.fill(SCAN)
    scan.press("Enter")
    expect(card.locator(".scan-status")).not_to_have_text("")
    expect(card.locator(".scan-status")).not_to_have_text("Recording the scan…")
    scan_posts = [(u, b) for u, b in posts if u.endswith(f"/visits/{PID}/{ENC}/materials/scan")]
    assert [json.loads(b) for _, b in scan_posts] == [{"scan": SCAN}]
    with server.client() as http:  # the OpenAPI document needs a signed-in user
        served = http.get("/api/v1/openapi.json", headers=bearer(server, "nurse")).json()
    # the scanning endpoint is in this build: the page used it, not the fallback text
    assert "/api/v1/visits/{pid}/{encounter}/materials/scan" in served["paths"]
    expect(card.locator(".scan-status")).not_to_have_text(
        "Scanning is not available on this server yet. Choose the lot from the list "
        "instead.")
    # a wrong number gets a sentence, not a validation dump
    filler.get_by_label("Actually used (vial) – Filler 1mL").fill("-1")
    card.get_by_role("button", name="Save changes").click()
    expect(card.locator(".status")).to_have_text(
        "Enter how much Filler 1mL was actually used: a number, 0 or more.")
    # one vial came back: only that row is sent, and the change is said in words
    filler.get_by_label("Actually used (vial) – Filler 1mL").fill("1")
    filler.get_by_label("Why different – Filler 1mL").select_option(label="Used less than planned")
    card.get_by_role("button", name="Save changes").click()
    expect(card.locator(".status")).to_have_text(
        "Saved 1 row. 1 vial of Filler 1mL returned to stock (lot FL-1).")
    put = [json.loads(b) for u, b in posts if u.endswith(f"/visits/{PID}/{ENC}/materials")]
    assert [[m["usageId"] for m in body["materials"]] for body in put] == [[visit["filler_map"]]]
    assert c.rows("SELECT mapping_id, recorded_at IS NOT NULL FROM aesthetic_inventory_usage "
                  "WHERE pid = :p AND encounter = :e ORDER BY mapping_id",
                  {"p": PID, "e": ENC}) == sorted([(visit["toxin_map"], 0),
                                                   (visit["filler_map"], 1)])
    expect(card.locator(".recorded-mark")).to_be_visible()
    expect(filler.locator(".recorded")).to_contain_text("Recorded")
    assert set(c.ledgers().values()) == {0}
    shot(page, "review-1024.png", tmp_path)
    page.close()


def test_review_page_at_phone_width(site: Site, server: LiveServer, browser: Browser,
                                    visit: dict[str, int], tmp_path: Path) -> None:
    page = browser_sign_in(browser, server, "nurse", 390, 844)
    card = page.locator(f'section.visit[data-encounter="{ENC}"]')
    expect(card.locator(".recorded-mark")).to_be_visible()  # recorded at the tablet
    card.get_by_role("button", name="Show materials").click()
    expect(card.locator(".material")).to_have_count(2)
    toxin = card.get_by_role("group", name="Toxin 50U")
    expect(toxin.get_by_label("Actually used (U) – Toxin 50U")).to_have_value("20")
    # cards, not a wide table: nothing is wider than the phone and each control is big
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for control in card.locator(".material input, .material select, button").all():
        box = control.bounding_box()
        assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 390
    shot(page, "review-390.png", tmp_path)
    page.close()


def test_report_pages_link_back(server: LiveServer, visit: dict[str, int]) -> None:
    cookie, _ = login_cookie(server, "admin")
    with server.client() as http:
        page = http.get("/reports/stock", cookies={"ai_session": cookie})
    assert page.status_code == 200
    assert '<body><p><a href="/">&larr; Back to the visits</a></p>' in page.text
