"""The recall room on the web, through the real server on the real schema: the API
(permissions, idempotent open, close), the call list and letters, and the page in
headless Chromium at phone width (a recall opened from the form)."""

from __future__ import annotations

import csv
import io
import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import Site, bearer, browser_sign_in
from playwright.sync_api import Browser, expect
from webserver import LiveServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def exposed(site: Site) -> dict[str, int]:
    """Lot RC-1 given to three patients of the doctor; lot RC-2 to one patient."""
    c = site.clinic
    doctor = int(c.scalar("SELECT id FROM users WHERE username = 'doctor'"))
    drug = c.add_drug("Filler 1mL")
    lots = {"RC-1": c.add_lot(drug, 12, lot_number="RC-1", expiration=date(2030, 1, 1)),
            "RC-2": c.add_lot(drug, 4, lot_number="RC-2", expiration=date(2030, 1, 1))}
    for n, (pid, first, last) in enumerate(((201, "Lia", "Park"), (202, "Omar", "Haddad"),
                                            (203, "Iris", "Novak"))):
        c.add_patient(pid, first, last, dob=date(1990, 1, n + 1), phone_cell=f"555-02{n}")
        c.add_visit(pid, 2000 + n, date.today() - timedelta(days=n + 1), provider_id=doctor)
        c.add_sale(drug, lots["RC-1"], 1, sale_date=date.today() - timedelta(days=n + 1),
                   pid=pid, encounter=2000 + n)
    c.add_sale(drug, lots["RC-2"], 1, sale_date=date.today(), pid=201, encounter=2000)
    return lots


def test_recall_api_permissions_idempotence_and_paper(site: Site, server: LiveServer,
                                                      exposed: dict[str, int]) -> None:
    body = {"lot": "RC-2", "reason": "Supplier notice 7: seal defect"}
    with server.client() as http:
        denied = http.post("/api/v1/recalls", json=body, headers=bearer(server, "front"))
        first = http.post("/api/v1/recalls", json=body, headers=bearer(server, "admin"))
        again = http.post("/api/v1/recalls", json={**body, "reason": "again"},
                          headers=bearer(server, "admin"))
        bad = http.post("/api/v1/recalls", json={"lot": "NOPE", "reason": "x"},
                        headers=bearer(server, "admin"))
        rid = first.json()["id"]
        csv_text = http.get(f"/recalls/{rid}/call-list.csv", headers=bearer(server, "admin"))
        letter = http.get(f"/recalls/{rid}/letters/201", headers=bearer(server, "admin"))
        stranger = http.get(f"/recalls/{rid}/letters/202", headers=bearer(server, "admin"))
        closed = http.post(f"/api/v1/recalls/{rid}/close", json={"note": "done"},
                           headers=bearer(server, "admin"))
    assert denied.status_code == 403 and denied.json()["message"] == "Access Denied"
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["created"] is True and data["quarantinedUnits"] == 3
    assert [p["pid"] for p in data["patients"]] == [201]
    assert data["messagedProviders"] == ["doctor"]
    assert again.json()["created"] is False and again.json()["quarantinedUnits"] == 0
    assert again.json()["reason"] == "Supplier notice 7: seal defect"
    assert bad.status_code == 400 and bad.json()["message"] == "no lot numbered 'NOPE'"
    rows = list(csv.DictReader(io.StringIO(csv_text.text)))
    assert [(r["pid"], r["name"], r["units"]) for r in rows] == [("201", "Lia Park", "1")]
    assert letter.status_code == 200 and "Dear Lia Park" in letter.text
    assert stranger.status_code == 404
    assert closed.json()["status"] == "closed"
    assert site.clinic.scalar("SELECT on_hand FROM drug_inventory WHERE lot_number = 'RC-2' "
                              "AND warehouse_id = 'quarantine'") == 3


def test_recall_page_at_phone_width(site: Site, server: LiveServer, browser: Browser,
                                    exposed: dict[str, int], tmp_path: Path) -> None:
    page = browser_sign_in(browser, server, "admin", 390, 844)
    page.goto(server.url + "/recalls")
    page.get_by_label("Lot number").fill("RC-1")
    page.get_by_label("Reason (e.g. the supplier's notice)").fill(
        "Supplier notice 9: sterility not assured")
    page.get_by_role("button", name="Open recall and quarantine the lot").click()
    expect(page.locator("h1")).to_contain_text("lot RC-1")
    cards = page.locator("article.patient")
    expect(cards).to_have_count(3)
    expect(cards.first).to_contain_text("Iris Novak")
    expect(page.locator("#lots")).to_contain_text("9 in quarantine (quarantined)")
    expect(page.get_by_role("link", name="Letter for Lia Park")).to_be_visible()
    # nothing wider than the phone: cards, not a wide table
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot = Path(os.environ.get("AESTHETIC_INVENTORY_SCREENSHOT_DIR", tmp_path)) / "recall-390.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    page.get_by_role("link", name="← All recalls").click()
    expect(page.locator("a.row-link")).to_have_count(2)
    page.close()
