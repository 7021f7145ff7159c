"""``POST /api/v1/visits/{pid}/{encounter}/materials/scan`` through the real server on
OpenEMR's real schema: the nurse scans the vial she used and its lot is recorded (the
stock follows); the front desk may not; a bad scan is a 400 in seed 003's error shape
and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from conftest import Site, bearer, login_cookie
from webserver import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]
CODE = "64616"
GTIN = "00300231145014"
GS = "\x1d"
LATER = date.today() + timedelta(days=300)


@pytest.fixture(scope="module")
def scan_visit(site: Site) -> Iterator[dict]:
    """Toxin with GTIN, lots S-1 (expires first) and S-2; visit 1/1003 reconciled (S-1)."""
    clinic = site.clinic
    drug = clinic.add_drug("Toxin scanned")
    first = clinic.add_lot(drug, 10, expiration=date.today() + timedelta(days=40),
                           lot_number="S-1")
    second = clinic.add_lot(drug, 10, expiration=LATER, lot_number="S-2")
    runner = CliRunner()
    linked = runner.invoke(main, ["--database-url", site.url, "products", "set", str(drug),
                                  "--gtin", GTIN, "--yes"])
    assert linked.exit_code == 0, linked.output
    clinic.add_mapping(CODE, drug, "2")
    pid, encounter = 1, 1003
    clinic.add_visit(pid, encounter, date.today())
    clinic.add_line(pid, encounter, CODE)
    result = runner.invoke(main, ["--database-url", site.url, "consume", "--pid", str(pid),
                                  "--encounter", str(encounter)])
    assert result.exit_code == 0, result.output
    assert clinic.on_hand(first) == 8
    yield {"drug": drug, "lots": (first, second), "path":
           f"/api/v1/visits/{pid}/{encounter}/materials/scan"}


def _datamatrix(lot: str) -> str:
    return f"]d201{GTIN}17{LATER.strftime('%y%m%d')}{GS}10{lot}"


def test_nurse_scans_the_vial_and_its_lot_is_recorded(site: Site, server: LiveServer,
                                                      scan_visit: dict) -> None:
    first, second = scan_visit["lots"]
    cookie, csrf = login_cookie(server, "nurse")
    with server.client() as http:
        resp = http.post(scan_visit["path"], json={"scan": _datamatrix("S-2")},
                         cookies={"ai_session": cookie}, headers={"X-CSRF-Token": csrf})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        materials = http.get(scan_visit["path"].removesuffix("/scan"),
                             headers=bearer(server, "nurse")).json()
    assert (body["lotNumber"], body["inventoryId"], body["productId"]) == (
        "S-2", second, scan_visit["drug"])
    assert body["message"] == "lot S-2 recorded as used for Toxin scanned"
    assert body["scan"]["expires"] == LATER.isoformat()
    assert (site.clinic.on_hand(first), site.clinic.on_hand(second)) == (10, 8)
    assert all(v == 0 for v in site.clinic.ledgers().values())
    mine = next(m for m in materials["materials"] if m["itemMasterId"] == scan_visit["drug"])
    assert (mine["actualQuantity"], mine["actualLot"], mine["recordedBy"]) == (2.0, "S-2",
                                                                               "nurse")


def test_front_desk_may_not_and_bad_scans_are_400(site: Site, server: LiveServer,
                                                  scan_visit: dict) -> None:
    before = site.clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory")
    with server.client() as http:
        denied = http.post(scan_visit["path"], json={"scan": _datamatrix("S-1")},
                           headers=bearer(server, "front"))
        swallowed = http.post(scan_visit["path"],
                              json={"scan": f"]d201{GTIN}10S-117{LATER.strftime('%y%m%d')}"},
                              headers=bearer(server, "nurse"))
        unknown = http.post(scan_visit["path"], json={"scan": "(01)04006381333931(10)X"},
                            headers=bearer(server, "nurse"))
        empty = http.post(scan_visit["path"], json={"scan": ""},
                          headers=bearer(server, "nurse"))
    assert denied.status_code == 403
    assert swallowed.status_code == 400 and "configure it" in swallowed.json()["message"]
    assert set(swallowed.json()) == {"timestamp", "status", "error", "message", "path"}
    assert unknown.status_code == 400
    assert "products set ID --gtin 04006381333931" in unknown.json()["message"]
    assert empty.status_code == 400
    assert site.clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory") == before


def test_receiving_and_counting_by_scan_need_inventory_purchases(
        site: Site, server: LiveServer, scan_visit: dict) -> None:
    scan = f"(01){GTIN}(17){LATER.strftime('%y%m%d')}(10)S-9"
    body = {"scan": scan, "packages": 3, "unitCost": "4.25", "supplier": "Allergan"}
    with server.client() as http:
        denied = http.post("/api/v1/receipts/scan", json=body, headers=bearer(server, "nurse"))
        page_denied = http.get("/receive", headers=bearer(server, "nurse"))
        dry = http.post("/api/v1/receipts/scan", json={**body, "dryRun": True},
                        headers=bearer(server, "admin"))
        done = http.post("/api/v1/receipts/scan", json=body, headers=bearer(server, "admin"))
        bad = http.post("/api/v1/receipts/scan", json={**body, "scan": "hello"},
                        headers=bearer(server, "admin"))
        on_hand_after_receipt = site.clinic.on_hand(done.json()["inventoryId"])
        counted = http.post("/api/v1/counts/scan", json={
            "scans": [scan, _datamatrix("S-9"), _datamatrix("S-2")], "dryRun": False},
            headers=bearer(server, "admin"))
    assert denied.status_code == 403 and page_denied.status_code == 403
    assert dry.status_code == 200 and dry.json()["dryRun"] is True
    assert done.status_code == 200, done.text
    received = done.json()
    assert (received["lotNumber"], received["quantity"], received["productId"]) == (
        "S-9", 3, scan_visit["drug"])
    lot = received["inventoryId"]
    assert on_hand_after_receipt == 3
    assert bad.status_code == 400 and "not a GS1 barcode" in bad.json()["message"]
    assert counted.status_code == 200, counted.text
    by_lot = {x["inventoryId"]: x for x in counted.json()["lots"]}
    assert (by_lot[lot]["counted"], by_lot[scan_visit["lots"][1]]["counted"]) == (2, 1)
    assert site.clinic.on_hand(lot) == 2
    assert all(v == 0 for v in site.clinic.ledgers().values())
