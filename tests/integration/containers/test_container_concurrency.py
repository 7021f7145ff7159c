"""Several processes draw from one open vial at once (``use``, and closes racing the
draws): no container is ever over-drawn, no lot goes negative, every lot balances, and
the containers' draws explain every Consumption row exactly."""

from __future__ import annotations

import multiprocessing
from datetime import datetime

from aesthetic_inventory.consumption.containers import service
from aesthetic_inventory.consumption.containers.domain import ContainerInputError
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy.engine import Engine

NOW = datetime.now().replace(microsecond=0)
ROUNDS = 8


def _worker(kind: str, url: str, drug: int, barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    uow = lambda: UnitOfWork(engine)  # noqa: E731
    done = refused = 0
    try:
        barrier.wait(timeout=30)
        for i in range(ROUNDS):
            try:
                if kind == "closer" and i % 3 == 2:
                    open_ids = [x.container.id
                                for x in service.list_containers(uow, drug_id=drug)]
                    if open_ids:
                        service.close(uow, open_ids[0], reason="dropped", user=kind, now=NOW)
                else:
                    service.use(uow, drug, 7, f"{kind} round {i}", user=kind, now=NOW)
                done += 1
            except ContainerInputError:
                refused += 1  # out of stock, or the container closed meanwhile
        out.put(("ok", kind, done, refused))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", kind, repr(exc), 0))
    finally:
        engine.dispose()


def test_concurrent_draws_never_over_draw_a_container(
        clinic: Clinic, migrated_engine: Engine, migrated_db_url: str) -> None:
    drug = clinic.add_drug("Botox")
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, beyond_use_hours) VALUES (:d, 20, 'U', 24)", {"d": drug})
    lots = [clinic.add_lot(drug, 100, lot_number="A"), clinic.add_lot(drug, 60, lot_number="B")]
    service.use(lambda: UnitOfWork(migrated_engine), drug, 1, "open the first vial",
                user="setup", now=NOW)
    kinds = ["use1", "use2", "use3", "use4", "closer"]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(kinds))
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(k, migrated_db_url, drug, barrier, out))
             for k in kinds]
    for p in procs:
        p.start()
    reports = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [r for r in reports if r[0] != "ok"] == []
    assert sum(r[2] for r in reports) > 10  # most work happened

    drawn = {int(k): int(v) for k, v in clinic.rows(
        "SELECT container_id, SUM(units) FROM aesthetic_inventory_container_draw "
        "GROUP BY container_id")}
    boxes = clinic.rows("SELECT id, units, units_wasted FROM aesthetic_inventory_container "
                        "ORDER BY id")
    # no container ever gave more than it held
    assert boxes and all(drawn.get(cid, 0) + wasted <= units for cid, units, wasted in boxes)
    consumed = clinic.scalar("SELECT SUM(quantity) FROM drug_sales WHERE trans_type = 7")
    assert consumed == sum(int(v) for v in drawn.values())
    assert all(clinic.on_hand(lot) >= 0 for lot in lots)
    assert all(v == 0 for v in clinic.ledgers().values())
    # what the lots hold covers what their open containers still hold
    for lot in lots:
        held = sum(units - drawn.get(cid, 0) - wasted for cid, units, wasted in clinic.rows(
            "SELECT id, units, units_wasted FROM aesthetic_inventory_container "
            "WHERE inventory_id = :i AND closed_at IS NULL", {"i": lot}))
        assert clinic.on_hand(lot) >= held
