"""The consumption engine draws a product counted in units from containers: fee-sheet
saves from several processes at once never over-draw a vial; a return after the vial
was closed is written off again as a count adjustment; a plain product in the same
visit is served as before."""

from __future__ import annotations

import multiprocessing
from datetime import date, datetime, timedelta

from aesthetic_inventory.consumption.containers import service
from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from aesthetic_inventory.consumption.service import preview_in_transaction, reconcile_visit
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.web.materials import UsageMaterials
from clinic import Clinic
from dbtools import make_app
from sqlalchemy.engine import Engine

TODAY = date.today()


def _toxin(clinic: Clinic, size: int = 100) -> int:
    drug = clinic.add_drug("Botox")
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, beyond_use_hours) VALUES (:d, :n, 'U', 24)", {"d": drug, "n": size})
    return drug


def _drawn(clinic: Clinic) -> dict[int, int]:
    return {int(k): int(v) for k, v in clinic.rows(
        "SELECT container_id, SUM(units) FROM aesthetic_inventory_container_draw "
        "GROUP BY container_id")}


def _worker(url: str, encounters: list[int], barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    try:
        barrier.wait(timeout=30)
        for enc in encounters:
            reconcile_visit(UnitOfWork(engine), enc, enc, service_username="svc")
        out.put(("ok", len(encounters)))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_concurrent_saves_never_over_draw_a_vial(clinic: Clinic, migrated_engine: Engine,
                                                 migrated_db_url: str) -> None:
    drug = _toxin(clinic, size=50)
    lots = [clinic.add_lot(drug, 150, lot_number="A"), clinic.add_lot(drug, 100,
                                                                      lot_number="B")]
    clinic.add_mapping("64612", drug, "15")
    encounters = list(range(1, 19))  # 18 visits x 15 U = 270 U > 250 U on hand
    for enc in encounters:
        clinic.add_visit(enc, enc, TODAY)
        clinic.add_line(enc, enc, "64612")
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(migrated_db_url, encounters[n::3], barrier, out))
             for n in range(3)]
    for p in procs:
        p.start()
    reports = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [r for r in reports if r[0] != "ok"] == []

    drawn = _drawn(clinic)
    boxes = clinic.rows("SELECT id, units, units_wasted FROM aesthetic_inventory_container")
    assert boxes and all(drawn.get(cid, 0) + wasted <= units for cid, units, wasted in boxes)
    held = int(clinic.scalar("SELECT SUM(quantity) FROM drug_sales WHERE selector LIKE "
                             "'AUTO_PROC:%'"))
    # every unit on hand drawn, from five full 50 U vials; the rest is a shortage
    assert held == sum(drawn.values()) == 250 and sorted(drawn.values()) == [50] * 5
    assert int(clinic.scalar("SELECT SUM(shortage_units) FROM aesthetic_inventory_usage")) == 20
    assert all(clinic.on_hand(lot) >= 0 for lot in lots)
    assert all(v == 0 for v in clinic.ledgers().values())


def test_a_return_after_the_vial_closed_is_written_off_again(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = _toxin(clinic)
    gauze = clinic.add_drug("Gauze")
    lot = clinic.add_lot(drug, 200)
    gauze_lot = clinic.add_lot(gauze, 10)
    clinic.add_mapping("64612", drug, "20")
    clinic.add_mapping("G1", gauze, "2")
    clinic.add_visit(1, 11, TODAY)
    line = clinic.add_line(1, 11, "64612", 2)
    clinic.add_line(1, 11, "G1")
    reconcile_visit(UnitOfWork(migrated_engine), 1, 11, service_username="svc")
    assert clinic.on_hand(lot) == 160 and clinic.on_hand(gauze_lot) == 8  # plain as before
    (cid,) = list(_drawn(clinic))
    service.close(lambda: UnitOfWork(migrated_engine), cid, reason="dropped", user="nurse",
                  now=datetime.now())
    assert clinic.on_hand(lot) == 100  # 60 U dropped
    clinic.execute("UPDATE billing SET units = 1 WHERE id = :i", {"i": line})
    reconcile_visit(UnitOfWork(migrated_engine), 1, 11, service_username="svc")
    # the AUTO_PROC row shrank to 20 U, and the 20 U returned are not on the shelf
    assert clinic.held(1, 11) == 20 + 2
    assert clinic.on_hand(lot) == 100
    (count,) = [s for s in clinic.sales(lot) if s[7] == 5 and "COUNT" in s[8]]
    assert count[6] == 20
    assert _drawn(clinic) == {cid: 20}
    assert all(v == 0 for v in clinic.ledgers().values())


def test_a_late_fee_sheet_draws_from_the_vial_used_that_day(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = _toxin(clinic)
    clinic.add_lot(drug, 300)
    clinic.add_mapping("64612", drug, "20")
    morning = datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=9)
    for pid, hour in ((1, 14), (2, 10)):  # the 10:00 visit's fee sheet is saved last
        clinic.execute("INSERT INTO form_encounter (date, pid, encounter) VALUES (:d, :p, :p)",
                       {"d": morning.replace(hour=hour), "p": pid})
        clinic.add_line(pid, pid, "64612")
        reconcile_visit(UnitOfWork(migrated_engine), pid, pid, service_username="svc")
    assert len(_drawn(clinic)) == 1  # one vial for the day


def test_preview_shows_the_container_plan_and_writes_nothing(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = _toxin(clinic)
    first = clinic.add_lot(drug, 100, lot_number="A", expiration=date(2027, 1, 1))
    clinic.add_lot(drug, 100, lot_number="B", expiration=date(2028, 1, 1))
    clinic.add_mapping("64612", drug, "20")
    for enc in (1, 2):
        clinic.add_visit(enc, enc, TODAY)
        clinic.add_line(enc, enc, "64612", 3)
    reconcile_visit(UnitOfWork(migrated_engine), 1, 1, service_username="svc")  # 60 U
    with UnitOfWork(migrated_engine) as uow:
        result, records = preview_in_transaction(
            uow.get(ConsumptionRepository), 2, 2, service_username="svc")
    # 40 U left in the open vial of lot A; nothing of lot A is sealed (100 - 60 drawn -
    # 40 in the vial), so the next vial is opened from lot B
    assert [(m.inventory_id, m.quantity) for m in result.lines[0].lots] == [(first, 40),
                                                                            (first + 1, 20)]
    assert records == 1 and result.writes == 0
    assert clinic.held(2, 2) == 0 and len(_drawn(clinic)) == 1
    done = reconcile_visit(UnitOfWork(migrated_engine), 2, 2, service_username="svc")
    assert [(m.inventory_id, m.quantity) for m in done.lines[0].lots] == [(first, 40),
                                                                          (first + 1, 20)]


def test_review_page_api_shows_the_vial_volume_and_time_left(
        clinic: Clinic, migrated_engine: Engine, migrated_db_url: str) -> None:
    drug = _toxin(clinic)
    clinic.execute("UPDATE aesthetic_inventory_product_stock SET diluent_ml = 2.5 "
                   "WHERE drug_id = :d", {"d": drug})
    clinic.add_lot(drug, 100)
    clinic.add_mapping("64612", drug, "20")
    clinic.execute("INSERT INTO form_encounter (date, pid, encounter) VALUES (:d, 1, 1)",
                   {"d": datetime.now() - timedelta(hours=2)})
    clinic.add_line(1, 1, "64612")
    reconcile_visit(UnitOfWork(migrated_engine), 1, 1, service_username="svc")
    app = make_app(migrated_db_url)
    data = UsageMaterials(app).show(1, 1, username="admin", show_costs=False)
    (material,) = data["materials"]
    (box,) = material["containers"]
    assert (box["units"], box["volumeMl"], box["unitsLeft"], box["open"]) == (20, 0.5, 80, True)
    assert 21.5 < box["hoursLeft"] <= 22.0
    app.close()


def test_a_single_patient_vial_serves_one_visit_and_ends_with_its_day(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = _toxin(clinic)
    clinic.execute("UPDATE aesthetic_inventory_product_stock SET single_patient = 1 "
                   "WHERE drug_id = :d", {"d": drug})
    lot = clinic.add_lot(drug, 300)
    clinic.add_mapping("64612", drug, "20")
    day = datetime.combine(TODAY - timedelta(days=2), datetime.min.time())
    for pid in (1, 2):
        clinic.execute("INSERT INTO form_encounter (date, pid, encounter) VALUES (:d, :p, :p)",
                       {"d": day + timedelta(hours=9 + pid), "p": pid})
        clinic.add_line(pid, pid, "64612")
        reconcile_visit(UnitOfWork(migrated_engine), pid, pid, service_username="svc")
    assert sorted(_drawn(clinic).values()) == [20, 20]  # one vial each
    done = service.write_off_expired(lambda: UnitOfWork(migrated_engine), now=datetime.now(),
                                     grace_hours=12, user="svc")
    assert sorted(c.waste for c in done.closed) == [80, 80]
    assert clinic.on_hand(lot) == 100 and all(v == 0 for v in clinic.ledgers().values())
