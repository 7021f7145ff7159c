"""Seed 003 API 8.7/8.8 through the real server and the real usage service.

The nurse records that 64 units were used instead of 100 (LESS_THAN_PLANNED) and the
stock moves; the front desk sees no costs and cannot update; accounting sees costs.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from aesthetic_inventory.cli import main
from click.testing import CliRunner
from conftest import Site, bearer, login_cookie
from webserver import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]
UNITS_CODE = "64615"


@pytest.fixture(scope="module")
def units_visit(site: Site) -> Iterator[dict]:
    """A visit planning 100 units of a toxin kept in units, reconciled (100 units out)."""
    clinic = site.clinic
    drug = clinic.add_drug("Toxin units")
    clinic.execute("UPDATE drugs SET unit = 'U', unit_cost = 4.00 WHERE drug_id = :d",
                   {"d": drug})
    first = clinic.add_lot(drug, 150, expiration=date.today() + timedelta(days=30),
                           lot_number="T-1")
    second = clinic.add_lot(drug, 300, expiration=date.today() + timedelta(days=300),
                            lot_number="T-2")
    mapping = clinic.add_mapping(UNITS_CODE, drug, "100")
    pid, encounter = 1, 1002
    clinic.add_visit(pid, encounter, date.today())
    clinic.add_line(pid, encounter, UNITS_CODE)
    result = CliRunner().invoke(main, ["--database-url", site.url, "consume", "--pid",
                                       str(pid), "--encounter", str(encounter)])
    assert result.exit_code == 0, result.output
    assert clinic.on_hand(first) == 50
    yield {"drug": drug, "lots": (first, second), "mapping": mapping, "pid": pid,
           "encounter": encounter}


def _path(v: dict) -> str:
    return f"/api/v1/visits/{v['pid']}/{v['encounter']}/materials"


def _material(body: dict, mapping: int) -> dict:
    return next(m for m in body["materials"] if m["usageId"] == mapping)


def test_nurse_records_64_of_100_and_stock_moves(site: Site, server: LiveServer,
                                                 units_visit: dict) -> None:
    first, second = units_visit["lots"]
    body = {"materials": [{"usageId": units_visit["mapping"], "actualQuantity": 64,
                           "varianceReason": "LESS_THAN_PLANNED",
                           "notes": "vial shared with the previous patient"}]}
    with server.client() as http:
        resp = http.put(_path(units_visit), headers=bearer(server, "nurse"), json=body)
        assert resp.status_code == 200, resp.text
        result = resp.json()
        [adjustment] = result["stockAdjustments"]
        assert (result["materialsUpdated"], adjustment["adjustment"]) == (1, -36.0)
        assert site.clinic.on_hand(first) + site.clinic.on_hand(second) == 450 - 64
        assert all(v == 0 for v in site.clinic.ledgers().values())
        shown = http.get(_path(units_visit), headers=bearer(server, "nurse")).json()
        again = http.put(_path(units_visit), headers=bearer(server, "nurse"), json=body)
    material = _material(shown, units_visit["mapping"])
    assert (material["plannedQuantity"], material["actualQuantity"],
            material["varianceQuantity"], material["varianceReason"],
            material["recordedBy"]) == (100.0, 64.0, -36.0, "LESS_THAN_PLANNED", "nurse")
    assert material["currentStock"] == 450 - 64
    assert material["unitPrice"] is None and shown["totalActualCost"] is None
    assert again.status_code == 200 and again.json()["materialsUpdated"] == 0


def test_front_office_sees_no_costs_and_cannot_update(server: LiveServer,
                                                      units_visit: dict) -> None:
    with server.client() as http:
        shown = http.get(_path(units_visit), headers=bearer(server, "front"))
        put = http.put(_path(units_visit), headers=bearer(server, "front"),
                       json={"materials": [{"usageId": units_visit["mapping"],
                                            "actualQuantity": 100}]})
    assert shown.status_code == 200
    material = _material(shown.json(), units_visit["mapping"])
    assert (material["unitPrice"], material["totalPlannedCost"],
            material["totalActualCost"]) == (None, None, None)
    assert put.status_code == 403


def test_accounting_sees_costs_but_cannot_update(server: LiveServer, units_visit: dict) -> None:
    with server.client() as http:
        shown = http.get(_path(units_visit), headers=bearer(server, "accountant")).json()
        put = http.put(_path(units_visit), headers=bearer(server, "accountant"),
                       json={"materials": [{"usageId": units_visit["mapping"],
                                            "actualQuantity": 100}]})
    material = _material(shown, units_visit["mapping"])
    assert material["unitPrice"] == 4.0
    assert material["totalPlannedCost"] == 400.0
    assert shown["totalPlannedCost"] is not None
    assert put.status_code == 403


def test_all_or_nothing_and_error_codes(site: Site, server: LiveServer,
                                        units_visit: dict) -> None:
    before = site.clinic.ledgers(), [site.clinic.on_hand(i) for i in units_visit["lots"]]
    headers = bearer(server, "nurse")
    good = {"usageId": units_visit["mapping"], "actualQuantity": 80,
            "varianceReason": "LESS_THAN_PLANNED"}
    with server.client() as http:
        unknown_lot = http.put(_path(units_visit), headers=headers, json={"materials": [
            good, {"usageId": units_visit["mapping"], "actualQuantity": 1,
                   "varianceReason": "WASTAGE", "lot": "NO-SUCH"}]})
        no_reason = http.put(_path(units_visit), headers=headers, json={"materials": [
            {"usageId": units_visit["mapping"], "actualQuantity": 70}]})
        unknown_usage = http.put(_path(units_visit), headers=headers, json={"materials": [
            {"usageId": 999999, "actualQuantity": 1, "varianceReason": "OTHER"}]})
        unknown_visit = http.get("/api/v1/visits/77/77/materials", headers=headers)
    assert unknown_lot.status_code in (400, 404), unknown_lot.text
    assert no_reason.status_code == 400, no_reason.text
    assert unknown_usage.status_code == 404
    assert unknown_visit.status_code == 404
    for resp in (unknown_lot, no_reason, unknown_usage, unknown_visit):
        assert set(resp.json()) == {"timestamp", "status", "error", "message", "path"}
    after = site.clinic.ledgers(), [site.clinic.on_hand(i) for i in units_visit["lots"]]
    assert after == before


def test_review_page_lists_the_visit_for_a_cookie_session(server: LiveServer,
                                                          units_visit: dict) -> None:
    cookie, csrf = login_cookie(server, "nurse")
    with server.client() as http:
        page = http.get("/", cookies={"ai_session": cookie})
        put = http.put(_path(units_visit), cookies={"ai_session": cookie},
                       headers={"X-CSRF-Token": csrf},
                       json={"materials": [{"usageId": units_visit["mapping"],
                                            "actualQuantity": 64,
                                            "varianceReason": "LESS_THAN_PLANNED"}]})
    assert page.status_code == 200
    assert f'data-encounter="{units_visit["encounter"]}"' in page.text
    assert put.status_code == 200, put.text


def test_sql_and_html_looking_notes_are_stored_and_echoed_verbatim(
        site: Site, server: LiveServer, units_visit: dict) -> None:
    notes = "<img src=x onerror=alert(1)> '); DROP TABLE drugs; -- ñ"
    body = {"materials": [{"usageId": units_visit["mapping"], "actualQuantity": 64,
                           "varianceReason": "LESS_THAN_PLANNED", "notes": notes}]}
    with server.client() as http:
        put = http.put(_path(units_visit), headers=bearer(server, "nurse"), json=body)
        shown = http.get(_path(units_visit), headers=bearer(server, "nurse"))
    assert put.status_code == 200, put.text
    assert shown.headers["content-type"].startswith("application/json")
    assert _material(shown.json(), units_visit["mapping"])["notes"] == notes
    assert site.clinic.scalar("SELECT COUNT(*) FROM drugs") >= 2


def test_a_typo_asks_for_confirmation_and_cannot_take_what_is_not_there(
    site: Site, server: LiveServer, units_visit: dict,
) -> None:
    """Issue 17 B: ``{"actualQuantity": 5000}`` against a plan of 100 units is 409 with
    ``confirm: true`` (the page asks); confirmed, it is still more than the visit holds
    plus the shelf (400). Neither moves stock or records a shortage."""
    before = site.clinic.ledgers(), [site.clinic.on_hand(i) for i in units_visit["lots"]]
    typo = {"usageId": units_visit["mapping"], "actualQuantity": 5000,
            "varianceReason": "ADDITIONAL_USAGE"}
    with server.client() as http:
        asked = http.put(_path(units_visit), headers=bearer(server, "nurse"),
                         json={"materials": [typo]})
        confirmed = http.put(_path(units_visit), headers=bearer(server, "nurse"),
                             json={"materials": [typo], "confirm": True})
    assert asked.status_code == 409, asked.text
    assert asked.json()["confirm"] is True and "more than 3x the plan" in asked.json()["message"]
    assert confirmed.status_code == 400, confirmed.text
    assert "nobody can have used what was not there" in confirmed.json()["message"]
    after = site.clinic.ledgers(), [site.clinic.on_hand(i) for i in units_visit["lots"]]
    assert after == before
    assert site.clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_usage "
                              "WHERE shortage_units > 0") == 0
