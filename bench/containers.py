"""Consume latency of a product counted in units (drawn from open vials) against a
plain product (whole lot units, sellDrug's order), on a throwaway private server.

    python -m bench.containers [--visits 200]

Each visit bills one code mapped to one product; ``reconcile_visit`` is timed per
visit (a fresh transaction each, as the queue worker runs it). The containered
product's visits draw 20 U each from 100 U vials (five patients per vial, a new vial
opened every fifth visit), so the figure includes opening containers. Prints the p50
and p95 of each, the median client CPU time (the Python side: on a loaded machine the
wall time mostly measures waiting for a core), and the ratios of the medians.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from datetime import date

from aesthetic_inventory import scratch
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.private_server import PrivateServer
from aesthetic_inventory.unit_of_work import UnitOfWork
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

VISIT_DAY = date.today()


def _seed(engine: Engine, visits: int) -> None:
    """Two products with lots enough for every visit, a mapping each, the visits."""
    with engine.begin() as conn:
        for name, code, per_unit in (("Plain", "P1", 2), ("Toxin", "T1", 20)):
            drug = conn.execute(text(
                "INSERT INTO drugs (name, allow_combining, dispensable, active) "
                "VALUES (:n, 1, 1, 1)"), {"n": name}).lastrowid
            units = visits * per_unit
            for n in range(3):  # a few lots, so the lot order matters
                lot = conn.execute(text(
                    "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                    "warehouse_id) VALUES (:d, :l, :e, :q, 'onsite')"),
                    {"d": drug, "l": f"{code}-{n}", "e": date(2030, 1 + n, 1),
                     "q": units}).lastrowid
                conn.execute(text(
                    "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, "
                    "trans_type) VALUES (:d, :i, '2026-01-01', :q, 2)"),
                    {"d": drug, "i": lot, "q": -units})
            conn.execute(text(
                "INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
                "VALUES ('CPT4', :c, :d, :q)"), {"c": code, "d": drug, "q": per_unit})
            if name == "Toxin":
                conn.execute(text(
                    "INSERT INTO aesthetic_inventory_product_stock (drug_id, "
                    "units_per_package, counting_unit, package_unit, beyond_use_hours) "
                    "VALUES (:d, 100, 'U', 'vial', 24)"), {"d": drug})
            base = 1 if name == "Plain" else 100_001
            for enc in range(base, base + visits):
                conn.execute(text(
                    "INSERT INTO form_encounter (date, pid, encounter) "
                    "VALUES (:t, :p, :e)"), {"t": VISIT_DAY, "p": enc, "e": enc})
                conn.execute(text(
                    "INSERT INTO billing (date, code_type, code, pid, provider_id, user, "
                    "groupname, authorized, encounter, code_text, billed, activity, units, "
                    "fee) VALUES (NOW(), 'CPT4', :c, :p, 0, NULL, 'Default', 1, :e, '', 0, "
                    "1, 1, 0)"), {"c": code, "p": enc, "e": enc})
        conn.execute(text("DELETE FROM aesthetic_inventory_change_queue"))


@dataclass(frozen=True)
class Series:
    """One series' per-visit wall milliseconds, client CPU milliseconds (this thread's
    user + system time: the Python side, little moved by other processes' load) and
    statements per visit."""

    ms: list[float]
    cpu_ms: list[float]
    statements: float


def _time(engine: Engine, firsts: tuple[int, ...], visits: int) -> list[Series]:
    """Each series' figures, the series interleaved visit by visit (a busy machine slows
    both alike)."""
    seen = [0]

    def count(*args: object) -> None:
        seen[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    times: list[list[float]] = [[] for _ in firsts]
    cpu: list[list[float]] = [[] for _ in firsts]
    statements = [0] * len(firsts)
    for n in range(visits):
        for k, first in enumerate(firsts):
            before = seen[0]
            start, start_cpu = time.perf_counter(), time.thread_time()
            reconcile_visit(UnitOfWork(engine), first + n, first + n, service_username="bench")
            cpu[k].append((time.thread_time() - start_cpu) * 1000)
            times[k].append((time.perf_counter() - start) * 1000)
            statements[k] += seen[0] - before
    event.remove(engine, "before_cursor_execute", count)
    return [Series(t, c, s / visits) for t, c, s in zip(times, cpu, statements, strict=True)]


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=200)
    args = parser.parse_args()
    with PrivateServer() as server:
        url = scratch.create_database(server.url, "bench_containers")
        engine = create_db_engine(url)
        scratch.create_fixture_schema(engine)
        migrate(engine)
        _seed(engine, args.visits)
        _time(engine, (1,), 5)  # warm the pool and the caches on a few plain visits
        plain, toxin = _time(engine, (6, 100_001), args.visits - 5)
        boxes = engine.connect().execute(text(
            "SELECT (SELECT COUNT(*) FROM aesthetic_inventory_container), "
            "(SELECT SUM(units) FROM aesthetic_inventory_container_draw)")).one()
        engine.dispose()
    for name, series, extra in (
            ("plain", plain, ""),
            ("containered", toxin, f"; {boxes[0]} vials opened, {boxes[1]} U drawn")):
        print(f"{name + ':':12s} p50 {statistics.median(series.ms):.2f} ms, p95 "
              f"{_p95(series.ms):.2f} ms, client CPU p50 {statistics.median(series.cpu_ms):.2f}"
              f" ms ({len(series.ms)} visits, {series.statements:.1f} statements each{extra})")
    print(f"ratio of medians: {statistics.median(toxin.ms) / statistics.median(plain.ms):.2f}x"
          f" (client CPU {statistics.median(toxin.cpu_ms) / statistics.median(plain.cpu_ms):.2f}x)")


if __name__ == "__main__":
    main()
