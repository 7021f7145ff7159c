"""The API per seed 003 role on the real schema: status codes, cost fields, error shape."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CODE, Site, bearer, login_cookie
from webserver import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]
COMMITTED_OPENAPI = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"

# role -> (may view, sees costs, may update) from seed 003's permission matrix
MATRIX = {
    "admin": (True, True, True),
    "doctor": (True, False, True),
    "nurse": (True, False, True),
    "front": (True, False, False),
    "accountant": (True, True, False),
}


@pytest.mark.parametrize("user", sorted(MATRIX))
def test_me_reports_openemr_permissions(server: LiveServer, user: str) -> None:
    view, costs, update = MATRIX[user]
    with server.client() as http:
        me = http.get("/api/v1/me", headers=bearer(server, user)).json()
    assert me["username"] == user
    assert (me["permissions"]["viewMaterials"], me["permissions"]["viewCosts"],
            me["permissions"]["updateMaterials"]) == (view, costs, update)


@pytest.mark.parametrize("user", sorted(MATRIX))
def test_service_bom_costs_only_for_cost_roles(site: Site, server: LiveServer, user: str) -> None:
    _view, costs, _update = MATRIX[user]
    with server.client() as http:
        resp = http.get(f"/api/v1/procedures/CPT4/{CODE}/consumables",
                        headers=bearer(server, user))
    assert resp.status_code == 200
    body = resp.json()
    [line] = body["consumables"]
    assert (line["itemName"], line["quantityRequired"], line["currentStock"],
            line["stockStatus"], line["categoryName"]) == ("Botox 100U", 1.0, 15, "OK",
                                                           "Neurotoxin")
    if costs:
        assert (line["unitPrice"], line["totalCost"], body["totalConsumableCost"]) == (
            312.5, 312.5, 312.5)
    else:
        assert (line["unitPrice"], line["totalCost"], body["totalConsumableCost"]) == (
            None, None, None)


def test_stock_status_follows_reorder_point(site: Site, server: LiveServer) -> None:
    site.clinic.execute("UPDATE drugs SET reorder_point = 20 WHERE drug_id = :d",
                        {"d": site.drug_id})
    try:
        with server.client() as http:
            body = http.get(f"/api/v1/procedures/CPT4/{CODE}/consumables",
                            headers=bearer(server, "nurse")).json()
        assert body["consumables"][0]["stockStatus"] == "LOW"
    finally:
        site.clinic.execute("UPDATE drugs SET reorder_point = 3 WHERE drug_id = :d",
                            {"d": site.drug_id})


def test_usable_lots_in_fefo_order(site: Site, server: LiveServer) -> None:
    with server.client() as http:
        body = http.get(f"/api/v1/products/{site.drug_id}/lots",
                        headers=bearer(server, "nurse")).json()
    assert [(lot["lotNumber"], lot["onHand"]) for lot in body["lots"]] == [("L-Ä1", 5),
                                                                          ("L-2", 10)]


def test_visits_of_today_list_the_mapped_visit(site: Site, server: LiveServer) -> None:
    with server.client() as http:
        body = http.get("/api/v1/visits", headers=bearer(server, "front")).json()
    assert [(v["pid"], v["encounter"], v["patient"]) for v in body["visits"]] == [
        (site.pid, site.encounter, "Ana Silva")]
    assert body["visits"][0]["codes"][0]["code"] == f"CPT4:{CODE}"


def test_unknown_procedure_is_404_in_seed_shape(server: LiveServer) -> None:
    with server.client() as http:
        resp = http.get("/api/v1/procedures/CPT4/99999/consumables",
                        headers=bearer(server, "nurse"))
    body = resp.json()
    assert resp.status_code == 404
    assert (body["status"], body["error"], body["message"], body["path"]) == (
        404, "Not Found", "Procedure not found: CPT4:99999",
        "/api/v1/procedures/CPT4/99999/consumables")


def test_bad_input_is_400_without_internals(server: LiveServer) -> None:
    headers = bearer(server, "nurse")
    with server.client() as http:
        sqlish = http.get("/api/v1/procedures/CPT4/1'%20OR%20'1'='1/consumables",
                          headers=headers)
        negative = http.put("/api/v1/visits/1/1001/materials", headers=headers,
                            json={"materials": [{"usageId": 1, "actualQuantity": -1}]})
        not_json = http.put("/api/v1/visits/1/1001/materials", headers=headers,
                            content=b"{not json", )
        bad_pid = http.get("/api/v1/visits/0/1/materials", headers=headers)
    for resp in (sqlish, negative, not_json, bad_pid):
        assert resp.status_code == 400, resp.text
        body = resp.json()
        assert set(body) == {"timestamp", "status", "error", "message", "path"}
        assert "Traceback" not in resp.text and "SELECT" not in resp.text
    assert negative.json()["message"].startswith("materials.0.actualQuantity:")


def test_front_office_and_accounting_cannot_update(site: Site, server: LiveServer) -> None:
    body = {"materials": [{"usageId": site.mapping_id, "actualQuantity": 0,
                           "varianceReason": "LESS_THAN_PLANNED"}]}
    with server.client() as http:
        for user in ("front", "accountant"):
            resp = http.put(f"/api/v1/visits/{site.pid}/{site.encounter}/materials",
                            headers=bearer(server, user), json=body)
            assert resp.status_code == 403
            assert resp.json()["message"] == "Access Denied"


def test_user_without_any_group_is_forbidden(site: Site, server: LiveServer) -> None:
    site.clinic.add_openemr_user("visitor", [], password="Visitor-pass-1")
    with server.client() as http:
        resp = http.get(f"/api/v1/procedures/CPT4/{CODE}/consumables",
                        headers=bearer(server, "visitor", "Visitor-pass-1"))
    assert resp.status_code == 403


def test_deactivated_user_loses_a_live_session(site: Site, server: LiveServer) -> None:
    site.clinic.add_openemr_user("leaver", ["clin"], password="Leaver-pass-1")
    cookie, _ = login_cookie(server, "leaver", "Leaver-pass-1")
    site.clinic.execute("UPDATE users SET active = 0 WHERE username = 'leaver'")
    with server.client() as http:
        assert http.get("/api/v1/me", cookies={"ai_session": cookie}).status_code == 401


def test_unknown_api_path_is_404_json(server: LiveServer) -> None:
    with server.client() as http:
        resp = http.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.json()["path"] == "/api/v1/nothing-here"


def test_openapi_is_served_and_matches_the_committed_copy(server: LiveServer) -> None:
    with server.client() as http:
        served = http.get("/api/v1/openapi.json", headers=bearer(server, "nurse")).json()
    committed = json.loads(COMMITTED_OPENAPI.read_text(encoding="utf-8"))
    assert served == committed
    assert "/api/v1/visits/{pid}/{encounter}/materials" in served["paths"]
