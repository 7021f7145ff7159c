"""A stock command killed (SIGKILL) in the middle of its transaction leaves nothing
behind: the server rolls the transaction back, every lot's ledger still balances and
the movement ledger still agrees with on_hand."""

from __future__ import annotations

import multiprocessing
import os
import signal
from datetime import date, timedelta

from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.stock import domain, service
from aesthetic_inventory.stock.repository import StockRepository
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy.engine import Engine

TODAY = date.today()
LATER = TODAY + timedelta(days=100)


def _die_after(method: str):  # type: ignore[no-untyped-def]
    original = getattr(StockRepository, method)

    def wrapper(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        original(self, *args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)  # rows written, transaction still open

    setattr(StockRepository, method, wrapper)


def _receive_then_die(url: str) -> None:
    _die_after("insert_ledger")
    engine = create_db_engine(url)
    lines = domain.parse_delivery(
        "product,lot,expires,quantity,unit_cost\n"
        f"Botox,B1,{LATER},10,5\nBotox,NEW,{LATER},4,5\n", today=TODAY)
    service.receive(lambda: UnitOfWork(engine), lines, user="k", today=TODAY)


def _count_then_die(url: str, lot: int) -> None:
    _die_after("set_on_hand")
    engine = create_db_engine(url)
    service.count(lambda: UnitOfWork(engine), [domain.CountLine(lot, 1)], user="k",
                  today=TODAY)


def _snapshot(clinic: Clinic) -> tuple:  # type: ignore[type-arg]
    return (clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory ORDER BY 1"),
            clinic.scalar("SELECT COUNT(*) FROM drug_sales"),
            clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_stock_ledger"),
            clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_delivery"),
            clinic.rows("SELECT * FROM aesthetic_inventory_product_stock"))


def test_killed_receipt_and_count_leave_nothing(clinic: Clinic, migrated_engine: Engine,
                                                migrated_db_url: str) -> None:
    clinic.add_drug("Botox")
    first = service.receive(lambda: UnitOfWork(migrated_engine), domain.parse_delivery(
        f"product,lot,expires,quantity,unit_cost\nBotox,B1,{LATER},6,4\n", today=TODAY),
        user="a", today=TODAY)
    lot = first.lines[0].inventory_id
    before = _snapshot(clinic)
    ctx = multiprocessing.get_context("fork")
    for target, args in ((_receive_then_die, (migrated_db_url,)),
                         (_count_then_die, (migrated_db_url, lot))):
        proc = ctx.Process(target=target, args=args)
        proc.start()
        proc.join(timeout=60)
        assert proc.exitcode == -signal.SIGKILL
        assert _snapshot(clinic) == before
    assert all(v == 0 for v in clinic.ledgers().values())
    assert clinic.stock_ledger_sums() == {lot: 6}
