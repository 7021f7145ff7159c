"""The recall room end to end on the REAL OpenEMR schema: `recall open` of a lot three
patients received quarantines its stock (OpenEMR's sellDrug, run by php-cli, then
refuses it), writes one pnotes message per provider, a call list and three letters;
a second run changes nothing; permissions, bad input, list/show/close."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.recall.service import OpenResult, open_recall
from aesthetic_inventory.stock.repository import lot_drift
from aesthetic_inventory.unit_of_work import UnitOfWork
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy.engine import Engine, make_url

pytestmark = pytest.mark.e2e
PHP_DIR = Path(__file__).resolve().parents[2] / "php"
LOT = "BTX-24A117"
TODAY = date.today()
WATCHED = ("drug_inventory", "drug_sales", "pnotes", "list_options",
           "aesthetic_inventory_stock_ledger", "aesthetic_inventory_recall",
           "aesthetic_inventory_recall_notice", "aesthetic_inventory_recall_audit")


@dataclass
class Site:
    url: str
    engine: Engine
    clinic: Clinic
    botox: int
    lots: dict[str, int]
    providers: dict[str, int]


def cli(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args], env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def site(openemr_db_url: str) -> Iterator[Site]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    clinic = Clinic(engine)
    clinic.install_default_acl()
    clinic.add_openemr_user("buyer", ["admin"], fname="Pat", lname="Buyer")
    clinic.add_openemr_user("front", ["front"])
    providers = {name: clinic.add_openemr_user(name, ["doc"], fname=first, lname=last)
                 for name, first, last in (("drsmith", "Anna", "Smith"),
                                           ("drjones", "Ben", "Jones"))}
    clinic.add_warehouse("annex", 10)
    botox = clinic.add_drug("Botox 100U")
    filler = clinic.add_drug("Filler 1mL")
    lots = {"onsite": clinic.add_lot(botox, 20, lot_number=LOT, expiration=date(2030, 1, 1)),
            "annex": clinic.add_lot(botox, 5, lot_number=LOT, expiration=date(2030, 1, 1),
                                    warehouse="annex"),
            "other": clinic.add_lot(botox, 8, lot_number="BTX-OTHER",
                                    expiration=date(2030, 6, 1)),
            "filler": clinic.add_lot(filler, 10, lot_number="F-1")}
    patients = ((101, "Maria", "Lopez", "drsmith", 4), (102, "John", "Doe", "drsmith", 2),
                (103, "Zoë", "Ång", "drjones", 3))
    for n, (pid, first, last, doc, units) in enumerate(patients):
        clinic.add_patient(pid, first, last, dob=date(1980 + n, 4, 2),
                           phone_cell=f"555-01{n:02d}", email=f"p{pid}@example.org")
        clinic.add_visit(pid, 500 + n, TODAY - timedelta(days=10 - n),
                         provider_id=providers[doc])
        # as OpenEMR's fee sheet sells it: a drug_sales row of the patient's visit
        clinic.add_sale(botox, lots["onsite"], units, sale_date=TODAY - timedelta(days=10 - n),
                        pid=pid, encounter=500 + n)
    clinic.add_patient(104, "Nora", "Other")  # received another lot only
    clinic.add_visit(104, 600, TODAY, provider_id=providers["drjones"])
    clinic.add_sale(botox, lots["other"], 1, sale_date=TODAY, pid=104, encounter=600)
    try:
        yield Site(openemr_db_url, engine, clinic, botox, lots, providers)
    finally:
        engine.dispose()


def sell_drug(site: Site, quantity: int, *, testonly: bool, pid: int = 104,
              encounter: int = 600, user: str = "drjones") -> object:
    """OpenEMR's sellDrug (php-cli) as the fee sheet calls it, over the test database."""
    url = make_url(site.url)
    source = os.environ.get("AESTHETIC_INVENTORY_OPENEMR_DRUGS_INC",
                            str(PHP_DIR / "sell_drug_restated.php"))
    env = {**os.environ, "OE_DB_HOST": url.host or "127.0.0.1", "OE_DB_PORT": str(url.port),
           "OE_DB_USER": url.username or "", "OE_DB_PASSWORD": url.password or "",
           "OE_DB_NAME": url.database or ""}
    done = subprocess.run(
        ["php", str(PHP_DIR / "sell_drug.php"), source, str(site.botox), str(quantity), user,
         "", str(pid), str(encounter), "1" if testonly else "0", TODAY.isoformat()],
        env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout.strip().splitlines()[-1])["result"]


def checksums(site: Site) -> dict[str, object]:
    return {t: site.clinic.rows(f"CHECKSUM TABLE {t}")[0][1] for t in WATCHED}


def test_recall_quarantines_notifies_writes_and_twice_changes_nothing(
        site: Site, tmp_path: Path) -> None:
    c = site.clinic
    # before: OpenEMR could sell 16 units of the product from the recalled lot's stock
    assert sell_drug(site, 16, testonly=True) is True
    out_dir = tmp_path / "recall"
    code, out, err = cli(site.url, "recall", "open", "--lot", LOT, "--reason",
                         "Supplier notice 2026-14: particulate matter", "--user", "buyer",
                         "--output-dir", str(out_dir))
    assert code == 0, err
    assert "Recall 1 of lot BTX-24A117 opened by buyer" in out
    # the quarantine warehouse OpenEMR will not sell from, created in OpenEMR's list
    assert c.rows("SELECT seq, activity FROM list_options WHERE list_id = 'warehouse' "
                  "AND option_id = 'quarantine'") == [(999, 1)]
    # what was left (20 - 9 onsite, 5 annex) moved as the lot screen's transfers
    assert c.on_hand(site.lots["onsite"]) == 0 and c.on_hand(site.lots["annex"]) == 0
    assert c.rows("SELECT warehouse_id, on_hand, lot_number FROM drug_inventory WHERE "
                  "warehouse_id = 'quarantine'") == [("quarantine", 16, LOT)]
    moves = c.rows("SELECT xfer_inventory_id, quantity, trans_type, fee FROM drug_sales "
                   "WHERE xfer_inventory_id <> 0 ORDER BY sale_id")
    assert moves == [(site.lots["onsite"], -11, 4, 0), (site.lots["annex"], -5, 4, 0)]
    assert set(c.ledgers().values()) == {0} and lot_drift(site.engine.connect()) == []
    assert c.on_hand(site.lots["other"]) == 7  # the other lot stays sellable
    # OpenEMR's sellDrug now refuses the recalled stock: 7 units of the other lot only
    assert sell_drug(site, 8, testonly=True) is False
    assert sell_drug(site, 7, testonly=True) is True
    before = c.scalar("SELECT COUNT(*) FROM drug_sales")
    assert sell_drug(site, 8, testonly=False) == 0  # a real sale: refused, nothing written
    assert c.scalar("SELECT COUNT(*) FROM drug_sales") == before
    # the module's own fee-sheet consumption skips the quarantine too (sellDrug's rule)
    c.add_mapping("64616", site.botox, "2")
    c.add_line(104, 600, "64616")
    code, _, err = cli(site.url, "consume", "--pid", "104", "--encounter", "600")
    assert code == 0, err
    assert c.rows("SELECT inventory_id, quantity FROM drug_sales WHERE pid = 104 "
                  "AND selector LIKE 'AUTO_PROC:%'") == [(site.lots["other"], 2)]
    # one OpenEMR message per provider, assigned to them, as addPnote writes it
    notes = c.rows("SELECT assigned_to, pid, user, title, message_status, activity, body "
                   "FROM pnotes ORDER BY assigned_to")
    assert [n[:6] for n in notes] == [("drjones", 0, "buyer", "Pharmacy", "New", 1),
                                      ("drsmith", 0, "buyer", "Pharmacy", "New", 1)]
    assert "(buyer to drjones) Recall 1 of lot BTX-24A117" in notes[0][6]
    assert "Zoë Ång (pid 103" in notes[0][6] and "Maria" not in notes[0][6]
    assert "Maria Lopez (pid 101" in notes[1][6] and "John Doe (pid 102" in notes[1][6]
    # the call list and one printable letter per patient
    with open(out_dir / "recall-1-call-list.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["pid"], r["name"], r["units"], r["provider"]) for r in rows] == [
        ("101", "Maria Lopez", "4", "Anna Smith"), ("102", "John Doe", "2", "Anna Smith"),
        ("103", "Zoë Ång", "3", "Ben Jones")]
    assert rows[0]["phone"] == "555-0100" and rows[0]["email"] == "p101@example.org"
    assert rows[0]["dob"] == "1980-04-02"
    letters = sorted(p.name for p in out_dir.glob("recall-1-letter-*.html"))
    assert letters == ["recall-1-letter-101.html", "recall-1-letter-102.html",
                       "recall-1-letter-103.html"]
    letter = (out_dir / "recall-1-letter-103.html").read_text(encoding="utf-8")
    assert "Dear Zoë Ång" in letter and LOT in letter and "particulate matter" in letter
    assert "@media print" in letter
    # the second run finds the open recall and changes nothing
    state = checksums(site)
    files = {p.name: p.read_bytes() for p in out_dir.iterdir()}
    code, out, err = cli(site.url, "recall", "open", "--lot", LOT, "--reason", "again",
                         "--user", "buyer", "--output-dir", str(out_dir))
    assert code == 0, err
    assert "is already open" in out and "Nothing changed in the database." in out
    assert checksums(site) == state
    assert {p.name: p.read_bytes() for p in out_dir.iterdir()} == files


def test_refused_without_permission_or_with_bad_input(site: Site, tmp_path: Path) -> None:
    state = checksums(site)
    for args, message in (
        (["--lot", "BTX-OTHER", "--reason", "x", "--user", "front"],
         "Error: user 'front' may not manage recalls: OpenEMR grants it with "
         "inventory/purchases or admin/drugs"),
        (["--lot", "NOPE-1", "--reason", "x", "--user", "buyer"],
         "Error: no lot numbered 'NOPE-1'"),
        (["--lot", "BTX-OTHER", "--reason", "  ", "--user", "buyer"],
         "Error: --reason is required: say why the lot is recalled"),
        (["--lot", "BTX-OTHER", "--product", "Filler 1mL", "--reason", "x", "--user", "buyer"],
         "Error: no lot numbered 'BTX-OTHER' for product 'Filler 1mL'"),
    ):
        code, out, err = cli(site.url, "recall", "open", *args, "--output-dir", str(tmp_path))
        assert code == 1 and err.strip() == message, (out, err)
        assert "Traceback" not in err
    broken = tmp_path / "letter.html.j2"
    broken.write_text("<p>Dear {{ patient.name </p>", encoding="utf-8")
    code, out, err = cli(site.url, "recall", "open", "--lot", "BTX-OTHER", "--reason", "x",
                         "--user", "buyer", "--output-dir", str(tmp_path / "out"),
                         env={"AESTHETIC_INVENTORY_RECALL_LETTER_TEMPLATE": str(broken)})
    assert code == 1 and err.startswith(f"Error: recall letter template {broken}: "), err
    assert "\n" not in err.strip()
    assert checksums(site) == state
    assert list(tmp_path.iterdir()) == [broken]


def test_list_show_and_close_keeps_the_quarantine(site: Site, tmp_path: Path) -> None:
    code, out, err = cli(site.url, "recall", "list", "--user", "buyer")
    assert code == 0, err
    assert out.startswith("recall 1: lot BTX-24A117, open since ")
    code, out, err = cli(site.url, "recall", "show", "1", "--user", "buyer", "--json")
    assert code == 0, err
    view = json.loads(out)
    assert [p["pid"] for p in view["patients"]] == [101, 102, 103]
    assert view["patients"][0]["visits"][0]["units"] == 4
    assert sorted(view["messages"]) == ["drjones", "drsmith"]
    assert [(a["action"], a["user"]) for a in view["audit"]] == [
        ("open", "buyer"), ("quarantine", "buyer"), ("notify", "buyer")]
    # stock of the lot received after the recall is flagged, and a re-run quarantines it
    late = site.clinic.add_lot(site.botox, 2, lot_number=LOT, expiration=date(2030, 1, 1))
    code, out, err = cli(site.url, "recall", "show", "1", "--user", "buyer")
    assert code == 0, err
    assert (f"  lot {late} Botox 100U: 2 in onsite STILL SELLABLE: run 'recall open' for "
            "this lot again") in out.splitlines()
    code, out, err = cli(site.url, "recall", "open", "--lot", LOT, "--reason", "again",
                         "--user", "buyer", "--output-dir", str(tmp_path))
    assert code == 0 and f"Quarantined: lot {late} (onsite): 2 unit(s)" in out, err
    code, out, err = cli(site.url, "recall", "close", "1", "--user", "buyer", "--note",
                         "supplier collected nothing; stock kept for inspection")
    assert code == 0, err
    assert "closed" in out and "stays in quarantine" in out
    c = site.clinic
    assert c.scalar("SELECT SUM(on_hand) FROM drug_inventory "
                    "WHERE warehouse_id = 'quarantine'") == 18  # closing moves nothing
    assert c.rows("SELECT status, closed_by, open_key FROM aesthetic_inventory_recall") == [
        ("closed", "buyer", None)]
    assert c.rows("SELECT action, detail FROM aesthetic_inventory_recall_audit "
                  "WHERE action = 'close'") == [
        ("close", "supplier collected nothing; stock kept for inspection")]
    code, _, err = cli(site.url, "recall", "close", "1", "--user", "buyer")
    assert code == 1 and err.startswith("Error: recall 1 was closed by buyer at ")
    code, _, err = cli(site.url, "recall", "show", "9", "--user", "buyer")
    assert code == 1 and err.strip() == "Error: no recall 9"
    # the read-only views keep working as before
    code, out, err = cli(site.url, "recall", "--lot", LOT, "--json")
    assert code == 0, err
    assert {p["pid"] for p in json.loads(out)["patients"]} == {101, 102, 103}
    code, out, err = cli(site.url, "recall", "--patient", "104", "--json")
    assert code == 0 and "BTX-OTHER" in out


def test_two_recalls_of_one_lot_at_once_make_one(site: Site) -> None:
    """Two users open the same recall at the same moment: one recall, the stock moved
    once, one message per provider, every lot's ledger balanced."""
    c = site.clinic
    lot = c.add_lot(site.botox, 6, lot_number="BTX-RACE", expiration=date(2030, 1, 1))
    c.add_patient(105, "Rita", "Race")
    c.add_visit(105, 700, TODAY, provider_id=site.providers["drsmith"])
    c.add_sale(site.botox, lot, 1, sale_date=TODAY, pid=105, encounter=700)
    notes_before = c.scalar("SELECT COUNT(*) FROM pnotes")
    start = threading.Barrier(2)
    results: list[OpenResult] = []

    def run(user: str) -> None:
        start.wait()
        results.append(open_recall(lambda: UnitOfWork(site.engine), "BTX-RACE",
                                   reason="race", user=user))

    threads = [threading.Thread(target=run, args=(u,)) for u in ("buyer", "drjones")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.created for r in results) == [False, True]
    assert len({r.recall.id for r in results}) == 1
    assert sum(m.quantity for r in results for m in r.moves) == 5
    assert c.on_hand(lot) == 0 and c.scalar(
        "SELECT SUM(on_hand) FROM drug_inventory WHERE lot_number = 'BTX-RACE'") == 5
    assert c.scalar("SELECT COUNT(*) FROM pnotes") == notes_before + 1
    assert set(c.ledgers().values()) == {0}


def test_the_clinic_letter_template(site: Site, tmp_path: Path) -> None:
    own = tmp_path / "our-letter.html.j2"
    own.write_text("<p>Hello {{ patient.name }}, lot {{ recall.lot_number }}, "
                   "{{ patient.units }} units. {{ clinic.name }}</p>\n", encoding="utf-8")
    code, out, err = cli(site.url, "recall", "open", "--lot", "BTX-OTHER", "--reason", "label",
                         "--user", "buyer", "--output-dir", str(tmp_path / "out"),
                         env={"AESTHETIC_INVENTORY_RECALL_LETTER_TEMPLATE": str(own)})
    assert code == 0, err
    letter = next((tmp_path / "out").glob("recall-*-letter-104.html"))
    facility = site.clinic.scalar("SELECT name FROM facility ORDER BY id LIMIT 1") or ""
    units = site.clinic.scalar("SELECT SUM(quantity) FROM drug_sales WHERE pid = 104")
    assert letter.read_text(encoding="utf-8") == (
        f"<p>Hello Nora Other, lot BTX-OTHER, {units} units. {facility}</p>")


def test_container_served_from_when_the_open_vial_tables_exist(site: Site) -> None:
    c = site.clinic
    recall_id = c.scalar("SELECT id FROM aesthetic_inventory_recall "
                         "WHERE lot_number = 'BTX-OTHER'")
    sale = c.scalar("SELECT MIN(sale_id) FROM drug_sales WHERE pid = 104")
    # the open-vial tables are installed by migrate (sql/519_40_containers.sql)
    c.execute("INSERT INTO aesthetic_inventory_container_draw (container_id, sale_id, pid, "
              "units, drawn_at) VALUES (42, :s, 104, 1, NOW())", {"s": sale})
    try:
        code, out, err = cli(site.url, "recall", "show", str(recall_id), "--user", "buyer",
                             "--json")
        assert code == 0, err
        assert {p["pid"]: p["container"] for p in json.loads(out)["patients"]}[104] == "42"
    finally:
        c.execute("DELETE FROM aesthetic_inventory_container_draw WHERE container_id = 42")
