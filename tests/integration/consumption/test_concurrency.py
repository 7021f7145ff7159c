"""Ten processes, each with its own engine, reconcile visits that want more than the
stock: nothing is ever oversold, no lot goes negative, every ledger stays balanced."""

from __future__ import annotations

import multiprocessing
from datetime import date

from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy.engine import Engine

WORKERS = 10


def _worker(url: str, visits: list[int], barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    try:
        barrier.wait(timeout=30)
        taken = 0
        for enc in visits:
            result = reconcile_visit(
                UnitOfWork(engine), 1, enc, service_username="worker"
            )
            taken += sum(m.added for m in result.lines)
        out.put(("ok", taken))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_ten_processes_never_oversell(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str
) -> None:
    drug = clinic.add_drug("Botox", allow_combining=1)
    tight = clinic.add_drug("Peel", allow_combining=0)
    lots = [clinic.add_lot(drug, n, expiration=date(2027, 1, i + 1)) for i, n in
            enumerate((4, 3, 5))]
    tight_lots = [clinic.add_lot(tight, 2), clinic.add_lot(tight, 3)]
    clinic.add_mapping("15828", drug)
    clinic.add_mapping("15828", tight)
    for enc in range(1, WORKERS + 1):
        clinic.add_visit(1, enc)
        clinic.add_line(1, enc, "15828", 2)  # 10 visits x 2 = 20 wanted of each product
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(WORKERS)
    out = ctx.Queue()
    # each process reconciles three visits, overlapping its neighbours' visits
    procs = [
        ctx.Process(target=_worker, args=(
            migrated_db_url, [(i + k) % WORKERS + 1 for k in range(3)], barrier, out))
        for i in range(WORKERS)
    ]
    for p in procs:
        p.start()
    reports = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(kind == "ok" for kind, _ in reports), reports

    assert all(clinic.on_hand(inv) == 0 for inv in lots)  # 12 of 20 filled, 8 short
    assert all(clinic.on_hand(inv) >= 0 for inv in tight_lots)
    held = clinic.rows(
        "SELECT drug_id, SUM(quantity) FROM drug_sales WHERE selector LIKE 'AUTO_PROC:%' "
        "GROUP BY drug_id ORDER BY drug_id"
    )
    # no combining: each 2-unit sale needs one lot holding 2 -> 2 from the first, 2 from the
    # second lot, never more than exists
    assert held == [(drug, 12), (tight, 4)]
    assert sum(taken for _, taken in reports) == 16  # same visit twice never takes twice
    assert set(clinic.ledgers().values()) == {0}
    shortages = clinic.scalar(
        "SELECT SUM(shortage_units) FROM aesthetic_inventory_usage"
    )
    assert int(shortages) == 8 + 16
