"""Processes racing on ONE visit: ``usage record`` (the service the command calls),
fee-sheet saves (OpenEMR's PHP changing a product line's quantity and the billing units
with plain SQL, and the Python fee-sheet API), and the queue worker. Afterwards the
visit is consistent: ledgers balance, the rows hold exactly the target of the last
recorded actual, no edit is left pending, and the history is an unbroken chain (every
change's old value is the previous change's new value).

The PHP edits the visit's first product line: returns go newest sale first and the
actuals stay >= 1, so that row is shrunk or grown but never deleted while the fee sheet
holds it. The simulated PHP reads the row FOR UPDATE: OpenEMR's own read is unlocked, and
a module write between that read and its write leaves the lot off by the difference (its
read-modify-write race, the same as two billers saving one fee sheet); that case is
detected, not prevented: see test_usage_triggers.py and the README.)"""

from __future__ import annotations

import multiprocessing
from decimal import Decimal

from aesthetic_inventory.consumption.batch import drain_change_queue
from aesthetic_inventory.consumption.fee_sheet import FeeSheetChanges, save_fee_sheet
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.db import create_db_engine, is_lock_conflict
from aesthetic_inventory.unit_of_work import UnitOfWork
from aesthetic_inventory.usage.service import MaterialInput, record_usage
from clinic import Clinic
from dbtools import uows
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, NoResultFound

SERVICE = "aesthetic-inventory"
ROUNDS = 12


def _recorder(url: str, barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    try:
        barrier.wait(timeout=30)
        for i in range(ROUNDS):
            value = str((i % 4) + 1)
            record_usage(uows(engine), 1, 1,
                         [MaterialInput("CPT4", "15828", value, reason="OTHER")],
                         user=f"nurse{i}", service_username=SERVICE,
                         confirmed=True)  # 4 against a plan of 1 is implausible
        out.put(("ok", "recorder"))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def _fee_sheet(url: str, line: int, barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    clinic = Clinic(engine)
    try:
        barrier.wait(timeout=30)
        for i in range(ROUNDS):
            try:
                ids = clinic.auto_sale_ids(1, 1)
                if ids:
                    clinic.fee_sheet_set_quantity(ids[0], (i % 3) + 1, lock=True)
                if i % 2:
                    clinic.as_openemr("UPDATE billing SET units = :u WHERE pid = 1 "
                                      "AND encounter = 1", {"u": (i % 4) + 1})
                else:
                    save_fee_sheet(UnitOfWork(engine), 1, 1,
                                   FeeSheetChanges(units={line: (i % 3) + 1}),
                                   service_username=SERVICE)
            except NoResultFound:
                pass  # the row was given back meanwhile, as on a real fee sheet
            except DBAPIError as exc:
                if not is_lock_conflict(exc):
                    raise
        out.put(("ok", "fee sheet"))
    except BaseException as exc:
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def _worker(url: str, barrier, out) -> None:  # type: ignore[no-untyped-def]
    engine = create_db_engine(url)
    try:
        barrier.wait(timeout=30)
        for _ in range(ROUNDS * 2):
            result = drain_change_queue(uows(engine), service_username=SERVICE)
            assert result.failed == 0
        out.put(("ok", "worker"))
    except BaseException as exc:
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def test_record_fee_sheet_and_worker_race_on_one_visit(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str
) -> None:
    drug = clinic.add_drug("Botox", allow_combining=1)
    lots = [clinic.add_lot(drug, 30, lot_number=f"L{n}") for n in range(2)]
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 1)
    line = clinic.add_line(1, 1, "15828", 1)
    for n in range(ROUNDS):
        clinic.add_user(f"nurse{n}")  # who records: active OpenEMR users
    reconcile_visit(UnitOfWork(migrated_engine), 1, 1, service_username=SERVICE)

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(3)
    out = ctx.Queue()
    procs = [ctx.Process(target=_recorder, args=(migrated_db_url, barrier, out)),
             ctx.Process(target=_fee_sheet, args=(migrated_db_url, line, barrier, out)),
             ctx.Process(target=_worker, args=(migrated_db_url, barrier, out))]
    for p in procs:
        p.start()
    reports = [out.get(timeout=240) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert all(kind == "ok" for kind, _ in reports), reports

    # what is still queued is handled by the next run, as in production
    drain_change_queue(uows(migrated_engine), service_username=SERVICE)
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_fee_sheet_edits") == 0
    assert set(clinic.ledgers().values()) == {0}
    assert all(clinic.on_hand(inv) >= 0 for inv in lots)
    actual, required, allocated, shortage = clinic.rows(
        "SELECT actual_quantity, required_units, allocated_units, shortage_units "
        "FROM aesthetic_inventory_usage")[0]
    held = clinic.held(1, 1)
    assert actual is not None
    assert required == int(Decimal(actual).to_integral_value(rounding="ROUND_CEILING"))
    assert (allocated, shortage) == (held, 0) and held == required
    chain = clinic.rows("SELECT old_actual, new_actual FROM aesthetic_inventory_usage_history "
                        "ORDER BY id")
    sources = {r[0] for r in clinic.rows("SELECT source FROM aesthetic_inventory_usage_history")}
    print("history:", len(chain), "changes from", sorted(sources))
    assert sources == {"usage", "fee_sheet"}  # both writers really raced
    assert len(chain) >= 2
    assert chain[0][0] is None
    for (_, previous_new), (old, _new) in zip(chain, chain[1:], strict=False):
        assert old == previous_new, chain  # no lost update
    assert chain[-1][1] == actual
    # a quiet reconcile afterwards changes nothing: the visit is settled
    assert reconcile_visit(UnitOfWork(migrated_engine), 1, 1,
                           service_username=SERVICE).writes == 0
