"""Issue 17 C: money (unit costs, values, valuations) reaches only users OpenEMR's ACL
lets see costs (inventory/purchases or acct/rep_a): every report page and endpoint,
asked as a user of each default OpenEMR group, through the real server; and the CLI
reports with ``--user``. Real OpenEMR schema, default ACL as its installer writes it."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from click.testing import CliRunner
from clinic import Clinic
from webserver import LiveServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]

PASSWORD = "Secret-pass-1"
# one user per default OpenEMR group; True = the group may see costs
GROUPS = {"admin": True, "clin": False, "doc": False, "front": False, "back": True,
          "breakglass": True}
CODE = "64612"
MONEY_KEY = re.compile(r"cost|price|value", re.IGNORECASE)


@dataclass
class Site:
    url: str
    server: LiveServer
    drug_id: int
    pid: int
    encounter: int
    lot: int


@pytest.fixture(scope="module")
def site(openemr_db_url: str) -> Iterator[Site]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    clinic = Clinic(engine)
    clinic.install_default_acl()
    for group in GROUPS:
        clinic.add_openemr_user(f"u_{group}", [group], password=PASSWORD)
    drug = clinic.add_drug("Botox 100U")
    clinic.execute("UPDATE drugs SET unit_cost = 312.50, reorder_point = 3 WHERE drug_id = :d",
                   {"d": drug})
    lot = clinic.add_lot(drug, 5, expiration=date.today() + timedelta(days=20),
                         lot_number="SOON-1")
    clinic.execute("UPDATE drug_inventory SET unit_cost = 98.76 WHERE inventory_id = :i",
                   {"i": lot})
    clinic.add_mapping(CODE, drug, "1")
    clinic.execute("INSERT INTO patient_data (pid, fname, lname) VALUES (1, 'Ana', 'Silva')")
    clinic.add_visit(1, 1001, date.today())
    clinic.add_line(1, 1001, CODE)
    server = start_server(openemr_db_url)
    try:
        yield Site(openemr_db_url, server, drug, 1, 1001, lot)
    finally:
        server.stop()
        engine.dispose()


def _token(http: httpx.Client, username: str) -> dict[str, str]:
    resp = http.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": "Bearer " + resp.json()["accessToken"]}


def _cookie(http: httpx.Client, username: str) -> dict[str, str]:
    page = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    resp = http.post("/login", data={"username": username, "password": PASSWORD,
                                     "csrf_token": token.group(1)})
    assert resp.status_code == 303, resp.text
    return {"ai_session": resp.cookies["ai_session"]}


def _money_in_json(value: Any) -> list[str]:
    """Keys naming money that carry a value (None = hidden)."""
    found: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if MONEY_KEY.search(k) and v is not None and not isinstance(v, (dict, list)):
                found.append(k)
            found += _money_in_json(v)
    elif isinstance(value, list):
        for v in value:
            found += _money_in_json(v)
    return found


def _money_in_html(page: str) -> list[str]:
    return [m for m in ("Unit cost", "Value", "value at lot cost", "98.76", "493.80")
            if m in page]


@pytest.mark.parametrize("group", list(GROUPS))
def test_report_pages_show_money_only_to_cost_viewers(site: Site, group: str) -> None:
    with site.server.client() as http:
        cookies = _cookie(http, f"u_{group}")
        pages = {name: http.get(f"/reports/{name}", cookies=cookies)
                 for name in ("stock", "expiring", "usage")}
    may_see_reports = group != "front"
    for name, page in pages.items():
        assert page.status_code == (200 if may_see_reports else 403), (name, page.text)
        if not may_see_reports:
            continue
        money = _money_in_html(page.text)
        if name == "expiring" and GROUPS[group]:
            assert money == ["Unit cost", "Value", "value at lot cost", "98.76", "493.80"]
        else:
            assert money == [], (name, money)
        if name == "expiring":
            assert "SOON-1" in page.text  # the lot itself is listed for everyone allowed


@pytest.mark.parametrize("group", list(GROUPS))
def test_endpoints_carry_money_only_for_cost_viewers(site: Site, group: str) -> None:
    paths = ["/api/v1/stock", "/api/v1/lots/SOON-1/recall",
             f"/api/v1/visits/{site.pid}/{site.encounter}/materials",
             f"/api/v1/procedures/CPT4/{CODE}/consumables",
             f"/api/v1/products/{site.drug_id}/lots", "/api/v1/me"]
    with site.server.client() as http:
        headers = _token(http, f"u_{group}")
        answers = {p: http.get(p, headers=headers) for p in paths}
    seen_money = False
    for path, resp in answers.items():
        assert resp.status_code in (200, 403), (path, resp.text)
        if resp.status_code != 200 or path.endswith("/me"):
            continue
        money = _money_in_json(resp.json())
        if not GROUPS[group]:
            assert money == [], (path, money)
        seen_money = seen_money or bool(money)
    me = answers["/api/v1/me"].json()["permissions"]
    assert me["viewCosts"] is GROUPS[group]
    # the consumables list prices for users who may see them: the check is not vacuous
    assert seen_money is (GROUPS[group] and answers[paths[3]].status_code == 200)


def cli(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("group", list(GROUPS))
def test_cli_reports_check_the_same_permission(site: Site, group: str) -> None:
    user = f"u_{group}"
    code, out = cli(site.url, "report", "expiring", "--format", "json", "--user", user)
    assert code == 0, out
    [lot] = json.loads(out)["lots"]
    assert ("unit_cost" in lot and lot["unit_cost"] == "98.76") is GROUPS[group]
    code, out = cli(site.url, "report", "all", "--format", "csv", "--user", user)
    assert code == 0, out
    assert ("Unit cost" in out and "98.76" in out) is GROUPS[group]
    code, out = cli(site.url, "ledger", "--format", "csv", "--user", user)
    assert code == 0, out
    header = next(csv.reader(io.StringIO(out)))
    assert ("unit_cost" in header) is GROUPS[group]
    for command in (["valuation"], ["report", "valuation"]):
        code, out = cli(site.url, *command, "--format", "json", "--user", user)
        if GROUPS[group]:
            assert code == 0 and json.loads(out)["total_at_lot_cost"] == 493.8, out
        else:
            assert code == 1 and out.strip().endswith(
                "may not see the stock valuation: OpenEMR's access control grants neither "
                "inventory/purchases nor acct/rep_a"), out


@pytest.mark.parametrize("group", list(GROUPS))
def test_stock_commands_print_costs_only_to_cost_viewers(site: Site, group: str,
                                                         tmp_path: Path) -> None:
    user = f"u_{group}"
    code, out = cli(site.url, "receive", "--product", str(site.drug_id), "--lot", "NEW-1",
                    "--expires", (date.today() + timedelta(days=200)).isoformat(),
                    "--quantity", "2", "--unit-cost", "100", "--dry-run", "--json",
                    "--user", user)
    assert code == 0, out
    costs = json.loads(out)["costs"]
    # (5 held at the product's 312.50 + 2 at 100) / 7
    assert (costs[str(site.drug_id)]["average_cost"] if costs else None) == (
        "251.7857" if GROUPS[group] else None)
    counts = tmp_path / "count.csv"
    counts.write_text(f"lot_id,counted\n{site.lot},4\n", encoding="utf-8")
    code, out = cli(site.url, "count", "--file", str(counts), "--dry-run", "--json",
                    "--user", user)
    assert code == 0, out
    data = json.loads(out)
    assert (data["value_short"], data["differences"][0]["value"]) == (
        ("98.76", "-98.76") if GROUPS[group] else (None, None))
