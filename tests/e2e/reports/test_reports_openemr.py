"""End to end on the REAL OpenEMR schema: every read-only command writes nothing
(table checksums before and after), recall reads OpenEMR's patient_data, and the
HTML report opens in a real headless Chromium with no console errors and the right
number of bars and points."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.unit_of_work import UnitOfWork
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
TODAY = date.today()
PIDS = range(7001, 7007)


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[tuple[str, Clinic]]:
    """The real schema, migrated, with a small clinic: 4 products (3 with a reorder
    point), 6 patients seen over the last 3 months, one recalled lot."""
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    clinic = Clinic(engine)
    doc = clinic.add_provider("rpt_doc", "Nina", "Patel")
    botox = clinic.add_drug("RPT Botox 100U", reorder_point=10)
    filler = clinic.add_drug("RPT Filler 1mL", reorder_point=5)
    peel = clinic.add_drug("RPT Peel", reorder_point=50)
    clinic.add_drug("RPT Unused")
    clinic.add_lot(botox, 30, lot_number="RPT-BTX-9", expiration=TODAY + timedelta(days=200))
    clinic.add_lot(filler, 12, lot_number="RPT-FIL-1", expiration=TODAY + timedelta(days=20))
    clinic.add_lot(peel, 8, lot_number="RPT-PEEL", expiration=TODAY - timedelta(days=2))
    clinic.add_mapping("RPT15828", botox, "2")
    clinic.add_mapping("RPT11950", filler, "1")
    for n, pid in enumerate(PIDS):
        clinic.add_patient(pid, f"Pat{n}", "Tester", dob=date(1980, 1, 1 + n),
                           phone_cell=f"555-01{n:02d}", email=f"p{n}@example.org")
        day = TODAY - timedelta(days=15 * n)
        clinic.add_visit(pid, 70_000 + n, day, provider_id=doc)
        clinic.add_line(pid, 70_000 + n, "RPT15828", 1)
        if n % 2:
            clinic.add_line(pid, 70_000 + n, "RPT11950", 2)
        reconcile_visit(UnitOfWork(engine), pid, 70_000 + n, service_username="admin")
    yield openemr_db_url, clinic
    engine.dispose()


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    return result.exit_code, result.stdout, result.stderr


def checksums(engine: Engine) -> dict[str, int]:
    """CHECKSUM TABLE of every table: any written row changes its table's sum."""
    with engine.connect() as conn:
        names = [r[0] for r in conn.execute(text(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            "AND TABLE_TYPE = 'BASE TABLE'"))]
        sql = "CHECKSUM TABLE " + ", ".join(f"`{n}`" for n in names) + " EXTENDED"
        return {r[0]: r[1] for r in conn.execute(text(sql))}


def test_read_only_commands_write_nothing(oe: tuple[str, Clinic], tmp_path: Path) -> None:
    url, clinic = oe
    export = tmp_path / "m.csv"
    before = checksums(clinic.engine)
    assert len(before) > 200  # the real schema's tables are all covered
    commands = [
        ["stock"], ["stock", "--lots", "--json"], ["stock", "--format", "csv"],
        ["recall", "--lot", "RPT-BTX-9"], ["recall", "--patient", str(PIDS[0]), "--json"],
        ["mappings", "list"], ["mappings", "export", "--output", str(export)],
        ["visit", "show", "--pid", str(PIDS[1]), "--encounter", "70001"],
        ["visit", "show", "--pid", str(PIDS[1]), "--encounter", "70001", "--json"],
        ["consume", "--pid", str(PIDS[1]), "--encounter", "70001", "--dry-run"],
        ["sync", "--dry-run"], ["sync", "--dry-run", "--json"],
    ]
    for kind in ("stock", "expiring", "activity", "usage", "shortages", "all"):
        for fmt in ("text", "csv", "json", "html"):
            commands.append(["report", kind, "--format", fmt])
    for args in commands:
        code, _, err = run(url, *args)
        assert code == 0, (args, err)
    code, _, err = run(url, "mappings", "import", str(export), "--dry-run")
    assert code == 0, err
    after = checksums(clinic.engine)
    assert after == before


def test_recall_reads_openemr_patient_data(oe: tuple[str, Clinic]) -> None:
    url, _ = oe
    code, out, err = run(url, "recall", "--lot", "rpt-btx-9", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert sorted(p["pid"] for p in data["patients"]) == list(PIDS)
    first = next(p for p in data["patients"] if p["pid"] == PIDS[0])
    assert (first["name"], first["dob"], first["phone"], first["email"], first["units"],
            first["provider"]) == ("Pat0 Tester", "1980-01-01", "555-0100", "p0@example.org",
                                   2, "Nina Patel")
    assert data["units_given"] == 12 and data["units_on_hand"] == 18


def test_html_report_in_chromium(oe: tuple[str, Clinic], tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = oe
    page_file = tmp_path / "report.html"
    code, _, err = run(url, "report", "all", "--format", "html", "--output", str(page_file),
                       "--from", (TODAY - timedelta(days=89)).isoformat())
    assert code == 0, err
    html = page_file.read_text(encoding="utf-8")
    # self-contained: no scripts, no external resources
    assert "<script" not in html and not re.search(r'(src|href)=["\']', html)
    with_usage = json.loads(run(url, "report", "usage", "--json", "--from",
                                (TODAY - timedelta(days=89)).isoformat())[1])
    months = len(_months(TODAY - timedelta(days=89), TODAY))
    stock = json.loads(run(url, "stock", "--json")[1])["products"]
    with_reorder = [p for p in stock if p["reorder_point"] > 0]
    requests: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            page.wait_for_load_state("load")
            assert errors == []
            assert requests == [page_file.as_uri()]  # nothing fetched besides the file
            assert page.locator("svg.stock-chart").count() == 1
            assert page.locator("svg.stock-chart rect.bar").count() == len(with_reorder) == 3
            assert page.locator("svg.stock-chart line.reorder").count() == 3
            charts = page.locator("svg.usage-chart")
            assert charts.count() == len(with_usage["by_product"]) == 2
            for n in range(charts.count()):
                assert charts.nth(n).locator("circle.point").count() == months
            box = page.locator("svg.stock-chart rect.bar").last.bounding_box()  # Botox, 18
            assert box is not None and box["width"] > 0  # drawn, not just present
            assert page.locator("h2", has_text="Inventory activity").count() == 1
        finally:
            browser.close()


def _months(start: date, end: date) -> list[str]:
    from aesthetic_inventory.reports.service import month_range

    return month_range(start, end)
