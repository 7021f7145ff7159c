"""Container services on a migrated fixture database: ``use`` draws from containers
(a Consumption row, trans_type 7), closing by hand and the waste job write an
Adjustment (trans_type 5) plus a ledger movement, every lot balances, and a product
without a package size behaves as before."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from aesthetic_inventory.consumption.containers import service
from aesthetic_inventory.consumption.containers.domain import ContainerInputError
from aesthetic_inventory.reports.domain import classify_sale
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy.engine import Engine

NOW = datetime(2026, 3, 10, 9, 30)


def vials(clinic: Clinic, name: str = "Botox", *, size: int = 100, hours: int | None = 24,
          single: int = 0) -> int:
    """A product counted in units: ``size`` U per vial."""
    drug = clinic.add_drug(name)
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, package_unit, beyond_use_hours, diluent_ml, single_patient) "
        "VALUES (:d, :n, 'U', 'vial', :h, 2.5, :s)", {"d": drug, "n": size, "h": hours,
                                                       "s": single})
    return drug


def factory(engine: Engine):  # type: ignore[no-untyped-def]
    return lambda: UnitOfWork(engine)


def containers(clinic: Clinic) -> list[tuple]:
    return clinic.rows(
        "SELECT c.id, c.inventory_id, c.units, (SELECT COALESCE(SUM(x.units), 0) FROM "
        "aesthetic_inventory_container_draw x WHERE x.container_id = c.id), c.units_wasted, "
        "c.closed_at IS NOT NULL, c.close_reason, c.opened_at, c.beyond_use_at "
        "FROM aesthetic_inventory_container c ORDER BY c.id")


def test_use_opens_a_vial_from_the_sell_drug_lot_then_draws_from_it(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = vials(clinic)
    later = clinic.add_lot(drug, 200, expiration=date(2027, 6, 1), lot_number="L2")
    first = clinic.add_lot(drug, 100, expiration=date(2027, 1, 1), lot_number="L1")
    r1 = service.use(factory(migrated_engine), drug, 30, "training", user="nurse", now=NOW)
    assert r1.counted_in_units and len(r1.opened) == 1
    r2 = service.use(factory(migrated_engine), drug, 80, "demo", user="nurse",
                     now=NOW + timedelta(hours=1))
    rows = containers(clinic)
    # vial 1 from the earliest-expiring lot (sellDrug's first), drawn empty; vial 2 from
    # the next lot for the remaining 10 U
    assert [(r[1], r[2], r[3]) for r in rows] == [(first, 100, 100), (later, 100, 10)]
    assert rows[0][7] == NOW and rows[0][8] == NOW + timedelta(hours=24)
    assert clinic.on_hand(first) == 0 and clinic.on_hand(later) == 190
    sales = [s for s in clinic.sales() if s[7] == 7]
    assert [(s[1], s[6], s[5], s[8]) for s in sales] == [
        (first, 30, 0, "training"), (later, 10, 0, "demo"), (first, 70, 0, "demo")]
    assert r2.sale_ids == tuple(s[0] for s in sales[1:])
    assert all(v == 0 for v in clinic.ledgers().values())
    issues = [x for x in clinic.stock_ledger() if x[0] == "ISSUE"]
    assert [(x[1], x[3], x[6]) for x in issues] == [(first, -30, "USE"), (later, -10, "USE"),
                                                    (first, -70, "USE")]
    draws = clinic.rows("SELECT container_id, sale_id, pid, units FROM "
                        "aesthetic_inventory_container_draw ORDER BY id")
    assert sorted((d[0], d[3]) for d in draws) == [(rows[0][0], 30), (rows[0][0], 70),
                                                   (rows[1][0], 10)]


def test_use_of_a_plain_product_takes_lots_as_sell_drug(clinic: Clinic,
                                                         migrated_engine: Engine) -> None:
    drug = clinic.add_drug("Gauze")
    lot = clinic.add_lot(drug, 5)
    r = service.use(factory(migrated_engine), drug, 3, "department", user="nurse", now=NOW)
    assert not r.counted_in_units and r.opened == ()
    assert clinic.on_hand(lot) == 2
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_container") == 0
    (row,) = [s for s in clinic.sales(lot) if s[7] == 7]
    assert row[6] == 3 and row[5] == 0
    # OpenEMR's Inventory Activity report: no patient, distributor or fee -> adjustment
    assert classify_sale(lot_id=lot, xfer_inventory_id=row[2], pid=row[3],
                         distributor_id=row[4], fee=row[5], quantity=row[6]) == (
        "adjustments", -3)


def test_use_refused_when_stock_cannot_cover_writes_nothing(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = vials(clinic)
    clinic.add_lot(drug, 50)
    before = clinic.rows("SELECT COUNT(*) FROM drug_sales")
    with pytest.raises(ContainerInputError, match="cannot use 60"):
        service.use(factory(migrated_engine), drug, 60, "demo", user="nurse", now=NOW)
    with pytest.raises(ContainerInputError, match="--reason"):
        service.use(factory(migrated_engine), drug, 1, "  ", user="nurse", now=NOW)
    assert clinic.rows("SELECT COUNT(*) FROM drug_sales") == before
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_container") == 0


def test_close_by_hand_writes_an_adjustment_naming_the_reason(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = vials(clinic)
    lot = clinic.add_lot(drug, 200)
    service.use(factory(migrated_engine), drug, 30, "training", user="nurse", now=NOW)
    (cid,) = [r[0] for r in containers(clinic)]
    r = service.close(factory(migrated_engine), cid, reason="dropped", user="nurse",
                      now=NOW + timedelta(hours=1), notes="fell on the floor")
    assert (r.waste, r.unaccounted) == (70, 0)
    assert clinic.on_hand(lot) == 100  # one sealed vial left
    (adj,) = [s for s in clinic.sales(lot) if s[7] == 5]
    assert adj[6] == 70 and adj[5] == 0 and "dropped" in adj[8] and "fell" in adj[8]
    assert classify_sale(lot_id=lot, xfer_inventory_id=adj[2], pid=adj[3],
                         distributor_id=adj[4], fee=adj[5], quantity=adj[6]) == (
        "adjustments", -70)
    ledger = [x for x in clinic.stock_ledger(lot) if x[0] == "ADJUST"]
    assert [(x[3], x[4], x[5], x[6]) for x in ledger] == [(-70, "container", str(cid),
                                                            "dropped")]
    assert containers(clinic)[0][4:7] == (70, 1, "dropped")
    assert all(v == 0 for v in clinic.ledgers().values())
    with pytest.raises(ContainerInputError, match="closed at"):
        service.close(factory(migrated_engine), cid, reason="dropped", user="n", now=NOW)
    with pytest.raises(ContainerInputError, match="no container 999"):
        service.close(factory(migrated_engine), 999, reason="dropped", user="n", now=NOW)


def test_waste_job_closes_only_containers_past_beyond_use_and_grace(
        clinic: Clinic, migrated_engine: Engine) -> None:
    toxin = vials(clinic, "Botox", hours=4)
    filler = vials(clinic, "Filler", hours=48)
    toxin_lot = clinic.add_lot(toxin, 100)
    clinic.add_lot(filler, 100)
    service.use(factory(migrated_engine), toxin, 20, "demo", user="nurse", now=NOW)
    service.use(factory(migrated_engine), filler, 20, "demo", user="nurse", now=NOW)
    early = service.write_off_expired(factory(migrated_engine),
                                      now=NOW + timedelta(hours=4 + 11), grace_hours=12,
                                      user="svc")
    assert early.closed == () and early.failed == 0
    done = service.write_off_expired(factory(migrated_engine),
                                     now=NOW + timedelta(hours=4 + 12), grace_hours=12,
                                     user="svc")
    assert [(c.reason, c.waste) for c in done.closed] == [("beyond-use", 80)]
    rows = containers(clinic)
    assert [(r[4], r[5], r[6]) for r in rows] == [(80, 1, "beyond-use"), (0, 0, "")]
    (adj,) = [s for s in clinic.sales(toxin_lot) if s[7] == 5]
    assert adj[6] == 80 and "beyond use" in adj[8]
    ledger = [x for x in clinic.stock_ledger(toxin_lot) if x[0] == "ADJUST"]
    assert [(x[3], x[6]) for x in ledger] == [(-80, "beyond-use")]
    assert clinic.on_hand(toxin_lot) == 0
    assert all(v == 0 for v in clinic.ledgers().values())
    again = service.write_off_expired(factory(migrated_engine),
                                      now=NOW + timedelta(days=3), grace_hours=12, user="svc")
    assert [c.waste for c in again.closed] == [80]  # the filler's turn; toxin not twice


def test_patients_of_container_lists_each_draw(clinic: Clinic,
                                               migrated_engine: Engine) -> None:
    drug = vials(clinic)
    clinic.add_lot(drug, 100)
    service.use(factory(migrated_engine), drug, 10, "demo", user="nurse", now=NOW)
    (cid,) = [r[0] for r in containers(clinic)]
    with UnitOfWork(migrated_engine) as uow:
        draws = service.patients_of_container(uow, cid)
        with pytest.raises(ContainerInputError):
            service.patients_of_container(uow, cid + 1)
    assert [(d.pid, d.units) for d in draws] == [(0, 10)]
