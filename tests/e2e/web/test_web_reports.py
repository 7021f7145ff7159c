"""Stock, lot recall and the report pages through the real server and the reports service."""

from __future__ import annotations

import pytest
from conftest import Site, bearer, login_cookie
from webserver import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]


def test_stock_for_permitted_roles_only(site: Site, server: LiveServer) -> None:
    with server.client() as http:
        ok = http.get("/api/v1/stock", headers=bearer(server, "nurse"))
        denied = http.get("/api/v1/stock", headers=bearer(server, "front"))
    assert ok.status_code == 200, ok.text
    [product] = [p for p in ok.json()["products"] if p["productId"] == site.drug_id]
    assert (product["usable"], product["stockStatus"]) == (15, "OK")
    assert denied.status_code == 403


def test_lot_recall_and_unknown_lot(site: Site, server: LiveServer) -> None:
    with server.client() as http:
        found = http.get("/api/v1/lots/L-2/recall", headers=bearer(server, "accountant"))
        missing = http.get("/api/v1/lots/NOPE-1/recall", headers=bearer(server, "accountant"))
        denied = http.get("/api/v1/lots/L-2/recall", headers=bearer(server, "front"))
    assert found.status_code == 200, found.text
    assert found.json()["unitsOnHand"] == 10
    assert missing.status_code == 404 and missing.json()["status"] == 404
    assert denied.status_code == 403


@pytest.mark.parametrize("name", ["stock", "expiring", "usage"])
def test_report_pages_render_with_the_reports_layout(server: LiveServer, name: str) -> None:
    cookie, _ = login_cookie(server, "admin")
    with server.client() as http:
        page = http.get(f"/reports/{name}", cookies={"ai_session": cookie})
        front_cookie, _ = login_cookie(server, "front")
        denied = http.get(f"/reports/{name}", cookies={"ai_session": front_cookie})
    assert page.status_code == 200, page.text
    assert page.text.lstrip().lower().startswith("<!doctype html")
    assert "<script" not in page.text.lower()
    assert denied.status_code == 403
