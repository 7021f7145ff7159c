"""A seeded OpenEMR site (real schema, default ACL, users of each group), a live server
and a headless Chromium (Debian's chromium driven by Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import httpx
import pytest
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from clinic import Clinic
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.engine import Engine
from webserver import LiveServer, start_server

PASSWORD = "Secret-pass-1"
# username -> OpenEMR group value (seed 003 roles: nurse, doctor, receptionist, accountant)
USERS = {"nurse": "clin", "doctor": "doc", "front": "front", "accountant": "back",
         "admin": "admin"}
CODE = "64612"


@dataclass
class Site:
    url: str
    engine: Engine
    clinic: Clinic
    drug_id: int
    lots: list[int]
    mapping_id: int
    pid: int
    encounter: int


@pytest.fixture(scope="module")
def site(openemr_db_url: str) -> Iterator[Site]:
    eng = create_db_engine(openemr_db_url)
    migrate(eng)
    clinic = Clinic(eng)
    clinic.install_default_acl()
    for username, group in USERS.items():
        clinic.add_openemr_user(username, [group], password=PASSWORD, fname=username.title())
    drug = clinic.add_drug("Botox 100U")
    clinic.execute("UPDATE drugs SET unit = 'vial', unit_cost = 312.50, reorder_point = 3, "
                   "aesthetic_category = 'Neurotoxin', ndc_number = 'BTX-100' "
                   "WHERE drug_id = :d", {"d": drug})
    soon = date.today() + timedelta(days=60)
    later = date.today() + timedelta(days=200)
    lots = [clinic.add_lot(drug, 5, expiration=soon, lot_number="L-Ä1"),
            clinic.add_lot(drug, 10, expiration=later, lot_number="L-2")]
    mapping = clinic.add_mapping(CODE, drug, "1")
    pid, encounter = 1, 1001
    clinic.execute("INSERT INTO patient_data (pid, fname, lname) VALUES (1, 'Ana', 'Silva')")
    clinic.add_visit(pid, encounter, date.today())
    clinic.add_line(pid, encounter, CODE)
    try:
        yield Site(openemr_db_url, eng, clinic, drug, lots, mapping, pid, encounter)
    finally:
        eng.dispose()


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[LiveServer]:
    live = start_server(site.url)
    try:
        yield live
    finally:
        live.stop()


def login_cookie(server: LiveServer, username: str, password: str = PASSWORD) -> tuple[str, str]:
    """Sign in through the form; (session cookie, CSRF token of the session)."""
    with server.client() as http:
        page = http.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        resp = http.post("/login", data={"username": username, "password": password,
                                         "csrf_token": token})
        assert resp.status_code == 303, resp.text
        cookie = resp.cookies["ai_session"]
        home = http.get("/", cookies={"ai_session": cookie})
        match = re.search(r'name="csrf-token" content="([^"]+)"', home.text)
        return cookie, match.group(1) if match else ""


def bearer(server: LiveServer, username: str, password: str = PASSWORD) -> dict[str, str]:
    with server.client() as http:
        resp = http.post("/api/v1/auth/token", json={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        return {"Authorization": "Bearer " + resp.json()["accessToken"]}


def confirm_launch(http: httpx.Client, token: str) -> httpx.Response:
    """Arrive from OpenEMR's menu (GET: the confirmation page) and confirm (POST); a
    refused token answers the GET already."""
    page = http.get("/launch", params={"token": token})
    if page.status_code != 200:
        return page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return http.post("/launch", data={"token": token, "csrf_token": csrf},
                     cookies={"ai_login_csrf": page.cookies["ai_login_csrf"]})

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                     headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def browser_sign_in(browser: Browser, server: LiveServer, username: str, width: int,
                    height: int) -> Page:
    """A new page of ``width`` x ``height`` px signed in through the sign-in form."""
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
    page.goto(server.url + "/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#sign-in")
    return page
