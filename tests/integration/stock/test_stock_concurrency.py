"""Receipts, transfers, adjustments and fee-sheet reconciles on the same lots from
several processes at once: no lot goes negative, OpenEMR's ledger of every lot balances,
the module's movement ledger agrees with every lot's on_hand, and no deadlock or lock
timeout escapes the retry (any database error fails the test)."""

from __future__ import annotations

import multiprocessing
import random
from datetime import date, timedelta

from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.stock import domain, service
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy.engine import Engine

TODAY = date.today()
LATER = TODAY + timedelta(days=300)
ROUNDS = 12


def _line(lot: str, qty: int) -> domain.ReceiptLine:
    line, errors = domain.validate_receipt(product="Botox", lot_number=lot, expires=LATER,
                                           quantity=qty, unit_cost="10", today=TODAY)
    assert line is not None and not errors
    return line


def _worker(kind: str, url: str, lots: list[int], visits: list[int], barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    uow = lambda: UnitOfWork(engine)  # noqa: E731
    rng = random.Random(hash(kind))
    done = refused = 0
    try:
        barrier.wait(timeout=30)
        for i in range(ROUNDS):
            try:
                if kind.startswith("receive"):
                    service.receive(uow, [_line(rng.choice(["X", "Y"]), rng.randint(1, 3))],
                                    user=kind, today=TODAY)
                elif kind.startswith("transfer"):
                    service.transfer(uow, rng.choice(lots), "clinic2", rng.randint(1, 4),
                                     user=kind, today=TODAY)
                elif kind.startswith("adjust"):
                    service.adjust(uow, rng.choice(lots), rng.choice([-2, -1, 1]), "COUNT",
                                   user=kind, today=TODAY)
                else:
                    enc = visits[i % len(visits)]
                    reconcile_visit(UnitOfWork(engine), 1, enc, service_username=kind)
                done += 1
            except domain.StockInputError:
                refused += 1  # e.g. not enough left to transfer: refused, nothing written
        out.put(("ok", kind, done, refused))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", kind, repr(exc), 0))
    finally:
        engine.dispose()


def test_stock_commands_and_reconciles_race_safely(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str
) -> None:
    clinic.add_warehouse("clinic2", 20)
    drug = clinic.add_drug("Botox", allow_combining=1)
    clinic.add_mapping("15828", drug)
    first = service.receive(lambda: UnitOfWork(migrated_engine),
                            [_line("X", 15), _line("Y", 15)], user="setup", today=TODAY)
    lots = [x.inventory_id for x in first.lines]
    visits = list(range(1, 13))
    for enc in visits:
        clinic.add_visit(1, enc, TODAY)
        clinic.add_line(1, enc, "15828", 2)
    kinds = ["receive1", "receive2", "transfer1", "transfer2", "adjust1", "fee1", "fee2",
             "fee3"]
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(kinds))
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(k, migrated_db_url, lots,
                                               visits[i % 3::3] or visits, barrier, out))
             for i, k in enumerate(kinds)]
    for p in procs:
        p.start()
    reports = [out.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    errors = [r for r in reports if r[0] != "ok"]
    assert errors == []
    assert sum(r[2] for r in reports) > len(kinds) * ROUNDS // 2  # most work happened

    on_hand = dict(clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory"))
    assert min(on_hand.values()) >= 0
    assert all(v == 0 for v in clinic.ledgers().values()), clinic.ledgers()
    # the module ledger (receipts, transfers, adjustments by the commands; issues and
    # returns observed on drug_sales) explains every lot's on_hand exactly
    assert clinic.stock_ledger_sums() == {k: v for k, v in on_hand.items()}
    held = clinic.scalar("SELECT COALESCE(SUM(quantity), 0) FROM drug_sales "
                         "WHERE selector LIKE 'AUTO_PROC:%'")
    issued = clinic.scalar("SELECT COALESCE(-SUM(quantity), 0) FROM "
                           "aesthetic_inventory_stock_ledger WHERE movement IN "
                           "('ISSUE', 'RETURN')")
    assert held == issued and held > 0
