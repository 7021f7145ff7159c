"""`visit show`, `consume --dry-run` and `sync --dry-run`: the engine's own plan,
computed on plain reads in a read-only transaction; nothing is written."""

from __future__ import annotations

import json
from datetime import date, timedelta

from aesthetic_inventory.cli import main
from aesthetic_inventory.consumption.service import reconcile_visit
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine

TODAY = date.today()


def run(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--database-url", url, *args])
    return result.exit_code, result.stdout, result.stderr


def snapshot(engine: Engine) -> dict[str, int]:
    tables = ("drug_inventory", "drug_sales", "aesthetic_inventory_usage",
              "aesthetic_inventory_change_queue", "billing")
    with engine.connect() as conn:
        return {r[0]: r[1] for r in conn.execute(text(
            "CHECKSUM TABLE " + ", ".join(tables) + " EXTENDED"))}


def _setup(clinic: Clinic) -> dict[str, int]:
    botox = clinic.add_drug("Botox")
    lot_a = clinic.add_lot(botox, 2, lot_number="BTX-A", expiration=TODAY + timedelta(days=30))
    lot_b = clinic.add_lot(botox, 10, lot_number="BTX-B", expiration=TODAY + timedelta(days=90))
    clinic.add_mapping("15828", botox, "0.5")
    clinic.add_visit(7, 70, TODAY)
    line = clinic.add_line(7, 70, "15828", 3)        # exact 1.5 -> 2
    clinic.add_line(7, 70, "99213", 1)               # not mapped
    reconcile_visit(clinic_uow(clinic), 7, 70, service_username="t")
    return {"botox": botox, "a": lot_a, "b": lot_b, "line": line}


def clinic_uow(clinic: Clinic):  # type: ignore[no-untyped-def]
    from aesthetic_inventory.unit_of_work import UnitOfWork

    return UnitOfWork(clinic.engine)


def test_visit_show_and_dry_runs_write_nothing(migrated_db_url: str, clinic: Clinic) -> None:
    ids = _setup(clinic)
    code, out, err = run(migrated_db_url, "visit", "show", "--pid", "7", "--encounter", "70")
    assert code == 0, err
    assert "CPT4 15828 x 3 (live): mapping" in out and "x 0.5 = 1.5" in out
    assert "CPT4 99213 x 1 (live): not mapped" in out
    assert "2 from lot BTX-A" in out
    assert "exact 1.5, required 2, held 2; no shortage" in out
    assert out.rstrip().endswith("a reconcile would change: nothing (stock and usage record "
                                 "agree with the fee sheet)")
    # the biller raises the units in OpenEMR's fee sheet; nobody has reconciled yet
    clinic.execute("UPDATE billing SET units = 25 WHERE id = :i", {"i": ids["line"]})
    clinic.execute("INSERT INTO aesthetic_inventory_change_queue (pid, encounter, queued_at) "
                   "VALUES (7, 70, NOW(6))")
    before = snapshot(clinic.engine)
    code, out, err = run(migrated_db_url, "visit", "show", "--pid", "7", "--encounter", "70",
                         "--json")
    assert code == 0, err
    view = json.loads(out)
    m = view["mappings"][0]
    assert (m["planned_exact"], m["required"], m["held_now"], m["after_reconcile"],
            m["shortage"], m["would_take"]) == (12.5, 13, 2, 12, 1, 10)
    assert [lot["lot_number"] for lot in m["lots"]] == ["BTX-B"]
    assert view["reconcile_would_change"] is True
    code, out, err = run(migrated_db_url, "consume", "--pid", "7", "--encounter", "70",
                         "--dry-run")
    assert code == 0, err
    assert "dry run" in out and "took 10 from lot BTX-B" in out and "SHORTAGE 1" in out
    code, out, err = run(migrated_db_url, "sync", "--dry-run", "--since",
                         (TODAY - timedelta(days=3)).isoformat())
    assert code == 0, err
    assert "visit pid 7 encounter 70" in out and "took 10 from lot BTX-B" in out
    assert "nothing was written" in out
    code, out, err = run(migrated_db_url, "sync", "--dry-run", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["dry_run"] is True and [(v["pid"], v["encounter"]) for v in data["visits"]] == [
        (7, 70)]
    assert snapshot(clinic.engine) == before  # nothing written, queue row still there
    assert clinic.held(7, 70) == 2
    # the real reconcile does what the dry run said
    code, out, err = run(migrated_db_url, "consume", "--pid", "7", "--encounter", "70")
    assert code == 0 and "took 10 from lot BTX-B" in out and "SHORTAGE 1" in out
    code, out, _ = run(migrated_db_url, "visit", "show", "--pid", "7", "--encounter", "70")
    assert "held 12; shortage 1" in out


def test_visit_show_unknown_visit(migrated_db_url: str, clinic: Clinic) -> None:
    code, _, err = run(migrated_db_url, "visit", "show", "--pid", "9", "--encounter", "99")
    assert code == 1 and err.strip() == "Error: no visit with pid 9 and encounter 99"
    code, _, err = run(migrated_db_url, "consume", "--pid", "9", "--encounter", "99",
                       "--dry-run")
    assert code == 1 and "no visit with pid 9 and encounter 99" in err
