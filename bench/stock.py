"""``python -m bench.stock --scale quick|full``: the stock commands on a generated clinic.

Measures (issue 11): a 500-line supplier delivery import, a 2,000-lot stock take and
the reorder report, each next to a baseline that does the same work the way OpenEMR's
lot screen does it (interface/drugs/add_edit_lot.php: per line, look the lot up, write
it, write the ``drug_sales`` row, commit) or, for the reorder report, the per-product
queries a straightforward implementation would run. Both sides run on the same data in
the same process; the module's runs are medians of ``--repeat`` runs on fresh lines.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aesthetic_inventory.stock import domain, service
from aesthetic_inventory.unit_of_work import UnitOfWork
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.dbtools import count_statements

from .database import bench_database
from .generate import GeneratedClinic, Scale, add_stocked_products, add_visits, generate_clinic
from .module_api import reconcile
from .reports_bench import load_metric
from .runner import Results, machine_metrics

DELIVERY_LINES = 500
COUNT_LOTS = 2_000
USAGE_SALES = {"full": 150_000, "quick": 15_000, "tiny": 500}


def add_usage(engine: Engine, scale: Scale, today: date, rng: random.Random) -> int:
    """OpenEMR sales over the last 90 days (the reorder report's usage), in batches."""
    n = USAGE_SALES[scale.name]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SELECT inventory_id, drug_id FROM drug_inventory WHERE on_hand > 0 "
                    "AND destroy_date IS NULL")
        lots = cur.fetchall()
        rows = []
        for k in range(n):
            inv, drug = lots[rng.randrange(len(lots))]
            rows.append((drug, inv, 1 + k % 5000, 100 + k,
                         today - timedelta(days=rng.randint(0, 89)), 1, 1))
        for i in range(0, n, 5000):
            cur.executemany(
                "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, "
                "quantity, trans_type) VALUES (%s, %s, %s, %s, %s, %s, %s)", rows[i:i + 5000])
        # keep every lot's ledger balanced: the sales took the stock
        cur.execute("UPDATE drug_inventory di JOIN (SELECT inventory_id, COUNT(*) n FROM "
                    "drug_sales WHERE trans_type = 1 GROUP BY inventory_id) s "
                    "ON s.inventory_id = di.inventory_id SET di.on_hand = di.on_hand - s.n")
        raw.commit()
    finally:
        raw.close()
    return n


def _delivery_csv(engine: Engine, rng: random.Random, today: date, tag: str) -> str:
    """500 lines: half add to existing lots (same product, warehouse, lot number), half
    create lots; products named by id or by name."""
    with engine.connect() as conn:
        # a lot number has one expiry: a line adding to a lot repeats the lot's own
        # (receive refuses another), so only lots not yet expired are topped up
        live = conn.execute(text(
            "SELECT di.drug_id, d.name, di.lot_number, di.warehouse_id, di.expiration "
            "FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
            "WHERE di.destroy_date IS NULL AND di.on_hand > 0 "
            "AND (di.expiration IS NULL OR di.expiration > :t)"), {"t": today}).all()
        every = conn.execute(text("SELECT drug_id, name FROM drugs")).all()
    existing = rng.sample(live, min(len(live), DELIVERY_LINES // 2))
    products = rng.sample(every, min(len(every), DELIVERY_LINES // 2))
    expires = (today + timedelta(days=500)).isoformat()
    lines = ["product,lot,expires,quantity,unit_cost,warehouse"]
    for k, (drug, name, lot, wh, lot_expires) in enumerate(existing):
        key = str(drug) if k % 2 else name
        lines.append(f"{key},{lot},{(lot_expires or expires)},{rng.randint(1, 40)},"
                     f"{rng.randint(100, 30000) / 100},{wh}")
    for k, (drug, name) in enumerate(products):
        key = str(drug) if k % 2 else name
        lines.append(f"{key},N{tag}{k:04d},{expires},{rng.randint(1, 40)},"
                     f"{rng.randint(100, 30000) / 100},main")
    return "\n".join(lines) + "\n"


def baseline_receive(engine: Engine, lines: list[domain.ReceiptLine], today: date) -> None:
    """OpenEMR's lot screen, one line after the other, each its own transaction."""
    for x in lines:
        with engine.begin() as conn:
            drug = int(x.product) if x.product.isdigit() else conn.execute(text(
                "SELECT drug_id FROM drugs WHERE name = :n"), {"n": x.product}).scalar()
            lot = conn.execute(text(
                "SELECT inventory_id FROM drug_inventory WHERE drug_id = :d AND "
                "warehouse_id = :w AND lot_number = :l AND destroy_date IS NULL AND "
                "on_hand != 0 ORDER BY inventory_id DESC LIMIT 1"),
                {"d": drug, "w": x.warehouse, "l": x.lot_number}).scalar()
            if lot:
                conn.execute(text("UPDATE drug_inventory SET expiration = :e, "
                                  "on_hand = on_hand + :q WHERE inventory_id = :i"),
                             {"e": x.expires, "q": x.quantity, "i": lot})
            else:
                lot = conn.execute(text(
                    "INSERT INTO drug_inventory (drug_id, lot_number, expiration, warehouse_id, "
                    "on_hand) VALUES (:d, :l, :e, :w, :q)"),
                    {"d": drug, "l": x.lot_number, "e": x.expires, "w": x.warehouse,
                     "q": x.quantity}).lastrowid
            conn.execute(text(
                "INSERT INTO drug_sales (drug_id, inventory_id, user, sale_date, quantity, fee, "
                "trans_type, notes) VALUES (:d, :i, 'admin', :t, :q, :f, 2, 'baseline')"),
                {"d": drug, "i": lot, "t": today, "q": -x.quantity, "f": -x.total_cost})


def _count_csv(engine: Engine, rng: random.Random) -> tuple[str, list[tuple[int, int]]]:
    with engine.connect() as conn:
        candidates = conn.execute(text(
            "SELECT inventory_id, on_hand FROM drug_inventory WHERE destroy_date IS NULL "
            "AND on_hand >= 0")).all()
    lots = rng.sample(candidates, min(COUNT_LOTS, len(candidates)))
    counted = [(int(i), max(0, int(q) + (rng.randint(-3, 3) if rng.random() < 0.5 else 0)))
               for i, q in lots]
    return "lot_id,counted\n" + "".join(f"{i},{c}\n" for i, c in counted), counted


def baseline_count(engine: Engine, counted: list[tuple[int, int]], today: date) -> None:
    """One adjustment per lot through the lot screen's statements, one at a time."""
    for inv, c in counted:
        with engine.begin() as conn:
            drug, on_hand = conn.execute(text(
                "SELECT drug_id, on_hand FROM drug_inventory WHERE inventory_id = :i"),
                {"i": inv}).one()
            diff = c - int(on_hand)
            if diff:
                conn.execute(text("UPDATE drug_inventory SET on_hand = on_hand + :q "
                                  "WHERE inventory_id = :i"), {"q": diff, "i": inv})
                conn.execute(text(
                    "INSERT INTO drug_sales (drug_id, inventory_id, user, sale_date, quantity, "
                    "fee, trans_type, notes) VALUES (:d, :i, 'admin', :t, :q, 0, 5, 'count')"),
                    {"d": drug, "i": inv, "t": today, "q": -diff})


def baseline_reorder(engine: Engine, today: date, days: int = 90,
                     sample: int = 100) -> float:
    """Per product: its usage, its stock and its supplier's lead time, one query each.
    OpenEMR's ``drug_sales`` has no index on ``drug_id``, so each usage query scans the
    table: timed on ``sample`` products and scaled to all of them (seconds)."""
    with engine.connect() as conn:
        products = conn.execute(text(
            "SELECT drug_id, supplier_name FROM drugs WHERE active = 1 AND dispensable = 1"
        )).all()
        start = time.perf_counter()
        for drug, supplier in products[:sample]:
            used = conn.execute(text(
                "SELECT COALESCE(SUM(quantity), 0) FROM drug_sales WHERE drug_id = :d AND "
                "trans_type IN (1, 7) AND sale_date >= :s"),
                {"d": drug, "s": today - timedelta(days=days - 1)}).scalar()
            conn.execute(text(
                "SELECT COALESCE(SUM(on_hand), 0) FROM drug_inventory WHERE drug_id = :d "
                "AND destroy_date IS NULL AND on_hand > 0 AND expiration > :t"),
                {"d": drug, "t": today}).scalar()
            conn.execute(text(
                "SELECT lead_time_days FROM aesthetic_inventory_supplier WHERE name = :n"),
                {"n": supplier}).scalar()
            assert used is not None
        elapsed = time.perf_counter() - start
    return elapsed * len(products) / max(1, min(sample, len(products)))


def bench_observer_overhead(engine: Engine, clinic: GeneratedClinic, results: Results,
                            visits: int = 60) -> None:
    """What the drug_sales observer triggers (AUTO_PROC -> ledger ISSUE/RETURN) cost a
    fee-sheet save: 5-line first saves (3 lots per line) with the triggers, without them
    (dropped), and with them again; p50 of the two 'with' phases vs the 'without'."""
    from aesthetic_inventory.install.triggers import ensure_triggers
    from aesthetic_inventory.stock.triggers import TRIGGERS

    observers = [t for t in TRIGGERS if t.table == "drug_sales"]
    codes = add_stocked_products(engine, clinic, "OBS", products=5 * 3 * visits,
                                 lots_per_product=4, lot_size=3, quantity_per_unit=4)
    shapes = [[(c, 2) for c in codes[5 * i:5 * i + 5]] for i in range(3 * visits)]
    keys = add_visits(engine, clinic, shapes, pid_base=930_000)
    phases: list[list[float]] = []
    for phase in range(3):
        if phase == 1:
            with engine.begin() as conn:
                for t in observers:
                    conn.exec_driver_sql(t.drop_sql())
        if phase == 2:
            with engine.begin() as conn:
                ensure_triggers(conn)
        times = []
        for pid, enc in keys[phase * visits:(phase + 1) * visits]:
            times.append(_timed(lambda p=pid, e=enc: reconcile(engine, p, e)))
        phases.append(times[3:])  # warm-up
    with_triggers = statistics.median(phases[0] + phases[2]) * 1000
    without = statistics.median(phases[1]) * 1000
    results.add("consume_p50_with_observers_ms", round(with_triggers, 2), "ms",
                round(without, 2), f"baseline = the same saves without the drug_sales "
                f"observer triggers; {visits - 3} saves per phase, 15 sale rows each")


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(engine: Engine, scale: Scale, results: Results, repeat: int) -> None:
    rng = random.Random(11)
    today = date.today()
    uow = lambda: UnitOfWork(engine)  # noqa: E731
    usage = add_usage(engine, scale, today, rng)
    with engine.connect() as conn:
        lots = conn.execute(text("SELECT COUNT(*) FROM drug_inventory")).scalar()

    receive_s: list[float] = []
    statements = 0
    for r in range(repeat):
        csv_text = _delivery_csv(engine, rng, today, f"R{r}")
        start = time.perf_counter()
        with count_statements(engine) as log:
            lines = domain.parse_delivery(csv_text, today=today, source="bench.csv")
            result = service.receive(uow, lines, user="bench", today=today, supplier="Bench")
        receive_s.append(time.perf_counter() - start)
        statements = len(log.statements)
        assert len(result.lines) == len(lines)
    base_lines = domain.parse_delivery(_delivery_csv(engine, rng, today, "B"), today=today)
    base_receive = _timed(lambda: baseline_receive(engine, base_lines, today))
    results.add(f"receive_{len(lines)}_lines_s", round(statistics.median(receive_s), 3), "s",
                round(base_receive, 3),
                f"one transaction, {statements} statements; baseline: lot screen per line, "
                f"{lots} lots; target < 2 s")

    count_s: list[float] = []
    adjusted = 0
    for _ in range(repeat):
        csv_text, _counted = _count_csv(engine, rng)
        start = time.perf_counter()
        with count_statements(engine) as log:
            res = service.count(uow, domain.parse_count(csv_text), user="bench", today=today,
                                source="bench-count.csv")
        count_s.append(time.perf_counter() - start)
        adjusted = res.summary.adjusted
        statements = len(log.statements)
    _, base_counted = _count_csv(engine, rng)
    base_count = _timed(lambda: baseline_count(engine, base_counted, today))
    results.add(f"count_{len(base_counted)}_lots_s", round(statistics.median(count_s), 3), "s",
                round(base_count, 3),
                f"one transaction, {adjusted} adjusted, {statements} statements; target < 2 s")

    reorder_s: list[float] = []
    ordered = 0
    for _ in range(repeat):
        start = time.perf_counter()
        suggestions, _changed = service.reorder(uow, days=90, today=today)
        reorder_s.append(time.perf_counter() - start)
        ordered = sum(1 for s in suggestions if s.order_now)
    base_reorder = baseline_reorder(engine, today)
    results.add("reorder_report_s", round(statistics.median(reorder_s), 3), "s",
                round(base_reorder, 3),
                f"{len(suggestions)} products, {ordered} to order, {usage} sales in 90 days; "
                "baseline: 3 queries per product, timed on 100 and scaled; target < 1 s")
    with engine.connect() as conn:
        # Set-based (one grouped pass over drug_sales per side, joined to the lots):
        # a correlated subquery on the unindexed xfer_inventory_id took ~22 ms per lot,
        # over an hour for the full-scale clinic's 200k lots.
        unbalanced = conn.execute(text(
            "SELECT COUNT(*) FROM drug_inventory di "
            "LEFT JOIN (SELECT inventory_id lot, SUM(quantity) q FROM drug_sales "
            "  WHERE inventory_id > 0 GROUP BY inventory_id) s ON s.lot = di.inventory_id "
            "LEFT JOIN (SELECT xfer_inventory_id lot, SUM(quantity) q FROM drug_sales "
            "  WHERE xfer_inventory_id > 0 GROUP BY xfer_inventory_id) x "
            "  ON x.lot = di.inventory_id "
            "WHERE di.on_hand + COALESCE(s.q, 0) - COALESCE(x.q, 0) <> 0")).scalar()
    results.add("stock_unbalanced_lots_after_run", unbalanced, "lots", None,
                "module and baseline writes both balance")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stock", description=__doc__)
    parser.add_argument("--scale", choices=("tiny", "quick", "full"), default="quick")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", help="server URL (default: a private server)")
    parser.add_argument("--output",
                        default=str(Path(__file__).with_name("results-stock.json")))
    args = parser.parse_args(argv)
    scale = Scale.named(args.scale)
    results = Results()
    started = time.perf_counter()
    with bench_database(args.database_url) as (engine, _url):
        t = time.perf_counter()
        clinic = generate_clinic(engine, scale)
        results.add("generate_s", round(time.perf_counter() - t, 1), "s")
        machine_metrics(scale, engine, results)
        load_metric(results, "before_stock")
        t = time.perf_counter()
        run(engine, scale, results, args.repeat)
        bench_observer_overhead(engine, clinic, results)
        results.add("stock_measurements_s", round(time.perf_counter() - t, 1), "s", None,
                    "everything after the clinic's generation")
        load_metric(results, "after_stock")
    results.add("bench_total_s", round(time.perf_counter() - started, 1), "s", None,
                "the whole run, generation included; target < 10 minutes")
    print(f"{'metric':34} {'module':>10} {'baseline':>10} {'better by':>9}  note")
    for m in results.metrics:
        ratio = (f"{m.baseline / m.value:.1f}x" if m.value and m.baseline else "")
        print(f"{m.name:34} {m.value!s:>10} {m.baseline!s:>10} {ratio:>9}  {m.unit}; {m.note}")
    for line in results.notes:
        print("note:", line)
    Path(args.output).write_text(json.dumps(
        {"scale": scale.name, **results.as_json()}, indent=2, default=str) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
