"""Stress: eight processes keep editing and re-saving overlapping visits that all want
more of the same few lots than exists. Bounded: 8 x 20 saves on 24 visits.

Afterwards no lot is below zero, every lot's ledger balances
(``on_hand + SUM(drug_sales.quantity) = 0``), no visit holds more than its billing
requires (nothing deducted twice), and no product keeps usable stock while a visit
is still short of it.
"""

from __future__ import annotations

import multiprocessing
import random
from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.generate import (
    GeneratedClinic,
    Scale,
    add_stocked_products,
    add_visits,
    ledger_report,
)

WORKERS = 8
SAVES_PER_WORKER = 20
VISITS = 24


def _worker(url: str, seed: int, visits: list[tuple[int, int]], out) -> None:  # type: ignore[no-untyped-def]
    """Edit a random visit's billing (units, delete/undelete a line), then reconcile it."""
    from aesthetic_inventory.consumption.service import reconcile_visit
    from aesthetic_inventory.db import create_db_engine
    from aesthetic_inventory.unit_of_work import UnitOfWork, retry_on_lock_conflict

    rng = random.Random(seed)
    engine = create_db_engine(url)
    try:
        for _ in range(SAVES_PER_WORKER):
            pid, enc = rng.choice(visits)
            roll = rng.random()
            with engine.begin() as conn:
                line = conn.execute(
                    text("SELECT id FROM billing WHERE pid = :p AND encounter = :e "
                         "ORDER BY id LIMIT 1 OFFSET :o"),
                    {"p": pid, "e": enc, "o": rng.randrange(3)},
                ).scalar_one()
                if roll < 0.4:
                    conn.execute(text("UPDATE billing SET units = :u WHERE id = :id"),
                                 {"u": rng.randint(1, 4), "id": line})
                elif roll < 0.55:
                    conn.execute(text("UPDATE billing SET activity = 1 - activity WHERE id = :id"),
                                 {"id": line})
            retry_on_lock_conflict(
                lambda pid=pid, enc=enc: reconcile_visit(
                    UnitOfWork(engine), pid, enc, service_username="stress"
                ),
                attempts=8,
            )
        out.put(("ok", seed))
    except BaseException as exc:  # report, never hang the parent
        out.put(("error", repr(exc)))
    finally:
        engine.dispose()


def _requirements_vs_held(engine: Engine) -> list[tuple[int, int, int, float, int]]:
    """(pid, encounter, mapping, required, held) for every visit and mapping."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT v.pid, v.encounter, pp.id, "
            "COALESCE((SELECT SUM(b.units * pp.quantity) FROM billing b WHERE b.pid = v.pid "
            "  AND b.encounter = v.encounter AND b.activity = 1 AND b.code_type = pp.code_type "
            "  AND b.code = pp.code), 0), "
            "COALESCE((SELECT SUM(ds.quantity) FROM drug_sales ds WHERE ds.pid = v.pid "
            "  AND ds.encounter = v.encounter AND ds.selector = CONCAT('AUTO_PROC:', pp.id)), 0) "
            "FROM form_encounter v CROSS JOIN procedure_products pp"
        )).all()
    return [(int(a), int(b), int(c), float(d), int(e)) for a, b, c, d, e in rows]


def test_eight_processes_editing_overlapping_visits_never_oversell(
    migrated_engine: Engine, migrated_db_url: str
) -> None:
    from aesthetic_inventory.consumption.service import reconcile_visit
    from aesthetic_inventory.unit_of_work import UnitOfWork

    clinic = GeneratedClinic(scale=Scale.named("tiny"), today=date.today(), next_encounter=500)
    scarce = add_stocked_products(migrated_engine, clinic, "SCARCE", products=3,
                                  lots_per_product=4, lot_size=3)  # 12 units each
    whole = add_stocked_products(migrated_engine, clinic, "WHOLE", products=1,
                                 lots_per_product=3, lot_size=3, allow_combining=False)
    visits = add_visits(
        migrated_engine,
        clinic,
        [[(scarce[k % 3], 1 + k % 3), (scarce[(k + 1) % 3], 1), (whole[0], 1 + k % 2)]
         for k in range(VISITS)],
        pid_base=1,
    )
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(migrated_db_url, seed, visits, out))
             for seed in range(WORKERS)]
    for proc in procs:
        proc.start()
    reports = [out.get(timeout=240) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert all(kind == "ok" for kind, _ in reports), reports

    unbalanced, oversold, negative = ledger_report(migrated_engine)
    assert (unbalanced, oversold, negative) == (0, 0, 0)

    # A final pass over every visit (what the sweep does) must leave the books exact.
    for pid, enc in visits:
        reconcile_visit(UnitOfWork(migrated_engine), pid, enc, service_username="stress")
    assert ledger_report(migrated_engine) == (0, 0, 0)
    pairs = _requirements_vs_held(migrated_engine)
    over = [p for p in pairs if p[4] > -(-p[3] // 1)]
    assert over == [], "visits hold more than their billing requires"
    assert sum(p[4] for p in pairs) > 0
    with migrated_engine.connect() as conn:
        idle_while_short = conn.execute(text(
            "SELECT d.name FROM drugs d WHERE d.allow_combining = 1 AND d.name LIKE 'Bench %' "
            "AND EXISTS (SELECT 1 FROM aesthetic_inventory_usage u WHERE u.drug_id = d.drug_id "
            "  AND u.shortage_units > 0) "
            "AND (SELECT SUM(on_hand) FROM drug_inventory di WHERE di.drug_id = d.drug_id) > 0"
        )).scalars().all()
        received = conn.execute(text(
            "SELECT -SUM(quantity) FROM drug_sales WHERE trans_type = 2")).scalar_one()
        held = conn.execute(text(
            "SELECT SUM(quantity) FROM drug_sales WHERE selector LIKE 'AUTO_PROC:%'")).scalar_one()
    assert idle_while_short == []
    assert 0 < held <= received
