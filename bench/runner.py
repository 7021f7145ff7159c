"""The benchmark scenarios: each measures the module and the baseline on the same data."""

from __future__ import annotations

import os
import platform
import statistics
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.dbtools import ServerCounter, count_statements

from . import module_api
from .baseline import baseline_alert_scan, baseline_save_fee_sheet
from .generate import GeneratedClinic, Scale, add_stocked_products, add_visits, ledger_report
from .round_trip import close_replay_connections, one_round_trip_seconds, recorded_sql


@dataclass
class Metric:
    """One line of the results table (``value``/``baseline`` may be None: not measured)."""

    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    note: str = ""


@dataclass
class Results:
    metrics: list[Metric] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | None, unit: str, baseline: float | None = None,
            note: str = "") -> None:
        self.metrics.append(Metric(name, value, unit, baseline, note))

    def as_json(self) -> dict[str, dict[str, Any]]:
        return {
            m.name: {"value": m.value, "unit": m.unit, "baseline": m.baseline}
            | ({"note": m.note} if m.note else {})
            for m in self.metrics
        }


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _unavailable(results: Results, what: str, exc: BaseException) -> None:
    results.notes.append(f"{what}: module code not available ({type(exc).__name__}: {exc})")


@dataclass
class _Latency:
    mod_times: list[float] = field(default_factory=list)
    base_times: list[float] = field(default_factory=list)
    mod_statements: list[int] = field(default_factory=list)
    base_statements: list[int] = field(default_factory=list)
    mod_server: list[int] = field(default_factory=list)
    base_server: list[int] = field(default_factory=list)
    mod_visits: list[tuple[int, int]] = field(default_factory=list)
    base_visits: list[tuple[int, int]] = field(default_factory=list)
    floor_times: list[float] = field(default_factory=list)
    mod_codes: list[str] = field(default_factory=list)
    base_codes: list[str] = field(default_factory=list)


def _latency_runs(
    engine: Engine, clinic: GeneratedClinic, tag: str, *, iterations: int, lots_per_product: int,
    fresh_products: bool, module_ok: bool, server: ServerCounter
) -> _Latency:
    """Time 5-line first saves (each line needs 8 units from 3-unit lots, so 3 lots),
    module and baseline alternating so machine noise hits both alike.

    ``fresh_products``: every visit uses its own 5 products (the lot count stays as
    given); otherwise all visits share 5 products and drain them in FEFO order."""
    warmup = 3
    n = iterations + warmup
    setup = {"lots_per_product": lots_per_product, "lot_size": 3, "quantity_per_unit": 4}
    out = _Latency()
    sets = n if fresh_products else 1
    out.mod_codes = add_stocked_products(engine, clinic, f"{tag}M", products=5 * sets, **setup)
    out.base_codes = add_stocked_products(engine, clinic, f"{tag}B", products=5 * sets, **setup)

    def shapes(codes: list[str]) -> list[list[tuple[str, int]]]:
        return [
            [(c, 2) for c in codes[5 * (i % sets) : 5 * (i % sets) + 5]] for i in range(n)
        ]

    out.mod_visits = add_visits(engine, clinic, shapes(out.mod_codes), pid_base=910_000)
    out.base_visits = add_visits(engine, clinic, shapes(out.base_codes), pid_base=920_000)
    for i in range(n):
        if module_ok:
            with count_statements(engine, server) as log, recorded_sql(engine) as sent:
                elapsed = _timed(lambda i=i: module_api.reconcile(engine, *out.mod_visits[i]))
            if i >= warmup:
                out.mod_times.append(elapsed)
                out.mod_statements.append(len(log.statements))
                out.mod_server.append(log.server_statements)
                out.floor_times.append(one_round_trip_seconds(engine, sent))
        with count_statements(engine, server) as log:
            elapsed = _timed(lambda i=i: baseline_save_fee_sheet(engine, *out.base_visits[i]))
        if i >= warmup:
            out.base_times.append(elapsed)
            out.base_statements.append(len(log.statements))
            out.base_server.append(log.server_statements)
    return out


def bench_latency(
    engine: Engine, clinic: GeneratedClinic, results: Results, iterations: int
) -> None:
    """First save of a 5-line visit, at the clinic's lot depth and at 400 lots/product."""
    module_ok = module_api.available("consumption")
    if not module_ok:
        results.notes.append("reconcile: consumption service not available")
    avg_lots = max(4, clinic.scale.lots // clinic.scale.products)
    server = ServerCounter(engine)
    try:
        _bench_latency(engine, clinic, results, iterations, module_ok, avg_lots, server)
    finally:
        server.close()
        close_replay_connections()


def _bench_latency(engine: Engine, clinic: GeneratedClinic, results: Results, iterations: int,
                   module_ok: bool, avg_lots: int, server: ServerCounter) -> None:
    lat = _latency_runs(engine, clinic, "LAT", iterations=iterations, lots_per_product=avg_lots,
                        fresh_products=True, module_ok=module_ok, server=server)
    b50, b95 = _ms(statistics.median(lat.base_times)), _ms(_pct(lat.base_times, 0.95))
    m50 = _ms(statistics.median(lat.mod_times)) if lat.mod_times else None
    m95 = _ms(_pct(lat.mod_times, 0.95)) if lat.mod_times else None
    note = f"5-line visit, 3 lots per line, {avg_lots} lots per product"
    results.add("consume_p50_ms", m50, "ms", b50, note)
    results.add("consume_p95_ms", m95, "ms", b95)
    results.add("consume_p50_ms_one_round_trip",
                _ms(statistics.median(lat.floor_times)) if lat.floor_times else None, "ms",
                None, "the module's own statements of each save, one multi-statement, no Python")
    results.add(
        "statements_per_consume",
        max(lat.mod_statements) if lat.mod_statements else None,
        "statements",
        max(lat.base_statements),
        "SQLAlchemy-level, max over the timed visits",
    )
    results.add(
        "server_statements_per_consume",
        max(lat.mod_server) if lat.mod_server else None,
        "statements",
        max(lat.base_server),
        "server-side Questions incl. BEGIN/COMMIT and unbatched executemany rows",
    )
    # deeper products, all visits sharing 5 of them (they drain in FEFO order): the
    # save must not grow with the lots per product (issue 21)
    deep: dict[int, _Latency] = {}
    for tag, lots, runs in (("DEEP", 400, max(5, iterations // 3)), ("HUGE", 5000, 15)):
        deep[lots] = _latency_runs(engine, clinic, tag, iterations=runs, lots_per_product=lots,
                                   fresh_products=False, module_ok=module_ok, server=server)
        results.add(
            f"consume_p50_ms_{lots}_lots",
            _ms(statistics.median(deep[lots].mod_times)) if deep[lots].mod_times else None,
            "ms",
            _ms(statistics.median(deep[lots].base_times)),
            f"same visit shape, {lots:,} lots per product",
        )
    mod_codes, base_codes = deep[400].mod_codes, deep[400].base_codes
    mod_visits, base_visits = lat.mod_visits, lat.base_visits

    # Same visit shape, but each line now needs 40 units: 14 lots per line.
    big_m = add_visits(engine, clinic, [[(c, 10) for c in mod_codes]], pid_base=930_000)[0]
    big_b = add_visits(engine, clinic, [[(c, 10) for c in base_codes]], pid_base=931_000)[0]
    big_mod: int | None = None
    big_mod_server: int | None = None
    if module_ok:
        with count_statements(engine, server) as log:
            module_api.reconcile(engine, *big_m)
        big_mod, big_mod_server = len(log.statements), log.server_statements
    with count_statements(engine, server) as log:
        baseline_save_fee_sheet(engine, *big_b)
    results.add("statements_per_consume_70_lots", big_mod, "statements", len(log.statements),
                "5 lines x 14 lots")
    results.add("server_statements_per_consume_70_lots", big_mod_server, "statements",
                log.server_statements, "5 lines x 14 lots, server-side")

    # Unchanged re-save of an already consumed visit.
    resave_mod: int | None = None
    resave_mod_ms: float | None = None
    if module_ok:
        with count_statements(engine) as log:
            resave_mod_ms = _ms(_timed(lambda: module_api.reconcile(engine, *mod_visits[0])))
        resave_mod = len(log.writes)
    with count_statements(engine) as log:
        resave_base_ms = _ms(_timed(lambda: baseline_save_fee_sheet(engine, *base_visits[0])))
    results.add("idempotent_resave_writes", resave_mod, "write statements", len(log.writes))
    results.add("idempotent_resave_ms", resave_mod_ms, "ms", resave_base_ms)


def _run_workers(workers: int, jobs: list[tuple[int, int]], work: Callable[[int, int], Any]
                 ) -> tuple[float, int]:
    """Run ``work`` over ``jobs`` on ``workers`` threads; returns (seconds, errors)."""
    lock = threading.Lock()
    queue = list(jobs)
    errors = [0]

    def loop() -> None:
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
            try:
                work(*job)
            except Exception:  # noqa: BLE001 - counted; the baseline may deadlock
                with lock:
                    errors[0] += 1

    threads = [threading.Thread(target=loop) for _ in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, errors[0]


def _oversold(engine: Engine, prefix: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT COALESCE(SUM(-di.on_hand), 0) FROM drug_inventory AS di "
                    "JOIN drugs AS d "
                    "ON d.drug_id = di.drug_id WHERE d.name LIKE :p AND di.on_hand < 0"
                ),
                {"p": f"Bench {prefix}%"},
            ).scalar_one()
        )


def bench_concurrency(engine: Engine, clinic: GeneratedClinic, results: Results, visits: int,
                      workers: int = 8) -> None:
    """8 workers saving overlapping visits that all want the same few scarce lots."""
    out: dict[str, tuple[float, int, int]] = {}
    dead: dict[str, int] = {}
    for label, pid_base in (("CM", 940_000), ("CB", 950_000)):
        scarce = add_stocked_products(engine, clinic, label + "S", products=3,
                                      lots_per_product=6, lot_size=3)
        plenty = add_stocked_products(engine, clinic, label + "P", products=3,
                                      lots_per_product=100, lot_size=20)
        shapes = [
            [(scarce[k % 3], 1 + k % 2), (plenty[k % 3], 2), (scarce[(k + 1) % 3], 1)]
            for k in range(visits)
        ]
        keys = add_visits(engine, clinic, shapes, pid_base=pid_base)
        deadlocks = _innodb_deadlocks(engine)
        if label == "CM":
            if not module_api.available("consumption"):
                results.notes.append("concurrency: consumption service not available")
                continue
            elapsed, errors = _run_workers(workers, keys,
                                           lambda p, e: module_api.reconcile(engine, p, e))
        else:
            elapsed, errors = _run_workers(workers, keys,
                                           lambda p, e: baseline_save_fee_sheet(engine, p, e))
        out[label] = (len(keys) / elapsed, _oversold(engine, label), errors)
        dead[label] = _innodb_deadlocks(engine) - deadlocks
    mod = out.get("CM")
    base = out["CB"]
    results.add("concurrent_consumes_per_s", round(mod[0], 1) if mod else None, "visits/s",
                round(base[0], 1), f"{workers} threads, own connections, {visits} visits")
    results.add("oversold_units", mod[1] if mod else None, "units", base[1])
    results.add("concurrent_errors", mod[2] if mod else None, "failed saves", base[2])
    results.add("concurrent_deadlocks", dead.get("CM"), "deadlocks", dead["CB"],
                "server Innodb_deadlocks during the run (each one a rolled-back retry)")


def _innodb_deadlocks(engine: Engine) -> int:
    with engine.connect() as conn:
        row = conn.exec_driver_sql("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'").first()
    return int(row[1]) if row else 0


def bench_alerts(
    engine: Engine, database_url: str, clinic: GeneratedClinic, results: Results
) -> None:
    """Alert scan time and peak Python memory, module vs the seed's job."""
    base_s = _timed(lambda: baseline_alert_scan(engine, today=clinic.today, commit=False))
    tracemalloc.start()
    baseline_alert_scan(engine, today=clinic.today, commit=False)
    base_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    mod_s: float | None = None
    mod_peak: int | None = None
    try:
        tracemalloc.start()
        module_api.alert_scan(database_url, dry_run=True)
        mod_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        mod_s = _timed(lambda: module_api.alert_scan(database_url, dry_run=False))
        # Steady state: the same scan again, nothing new to notify (the hourly case).
        steady_s = _timed(lambda: module_api.alert_scan(database_url, dry_run=False))
    except ImportError as exc:
        tracemalloc.stop()
        _unavailable(results, "alert scan", exc)
        steady_s = None
    # The module has set last_notify, so the seed's job now finds nothing new either.
    base_steady_s = _timed(lambda: baseline_alert_scan(engine, today=clinic.today, commit=False))
    with engine.connect() as conn:
        lots = conn.execute(text("SELECT COUNT(*) FROM drug_inventory")).scalar_one()
    results.add("alert_scan_s", round(mod_s, 3) if mod_s is not None else None, "s",
                round(base_s, 3), f"{lots} lots, first run (everything new)")
    results.add("alert_scan_steady_s", round(steady_s, 3) if steady_s is not None else None,
                "s", round(base_steady_s, 3), "second run, nothing new to notify")
    results.add("alert_scan_peak_mib",
                round(mod_peak / 2**20, 2) if mod_peak is not None else None, "MiB",
                round(base_peak / 2**20, 2), "tracemalloc peak (dry run)")


def bench_sweep(engine: Engine, clinic: GeneratedClinic, results: Results, baseline_sample: int,
                days: int) -> None:
    """Sweep the visits of the last ``days`` days (a rate, so a window is enough to
    keep the quick run short); the baseline saves a sample of older visits its way."""
    sample = clinic.visits[:baseline_sample]
    base_s = _timed(lambda: [baseline_save_fee_sheet(engine, p, e) for p, e in sample])
    since = clinic.today - timedelta(days=days)
    count = 0
    mod_s: float | None = None
    steady_s: float | None = None
    if module_api.available("consumption"):
        start = time.perf_counter()
        count = module_api.sweep(engine, since).visits
        mod_s = time.perf_counter() - start
        # Second sweep: nothing changed since, the nightly safety-net case.
        steady_s = _timed(lambda: module_api.sweep(engine, since))
    else:
        results.notes.append("sweep: consumption service not available")
    results.add("sweep_visits_per_s", round(count / mod_s, 1) if mod_s else None, "visits/s",
                round(len(sample) / base_s, 1),
                f"first sweep (back-fill) of {count} visits; baseline on {len(sample)}")
    results.add("sweep_steady_visits_per_s", round(count / steady_s, 1) if steady_s else None,
                "visits/s", round(len(sample) / base_s, 1),
                "second sweep, nothing changed (baseline re-sells every visit)")


def bench_ledger(engine: Engine, results: Results) -> None:
    unbalanced, oversold, negative = ledger_report(engine)
    results.add("unbalanced_lots_after_run", unbalanced, "lots", None,
                "on_hand + SUM(drug_sales.quantity) <> 0 (baseline lots included)")


def machine_metrics(scale: Scale, engine: Engine, results: Results) -> None:
    with engine.connect() as conn:
        version = conn.execute(text("SELECT VERSION()")).scalar_one()
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    results.notes.append(
        f"machine: {os.cpu_count()} CPUs, {mem:.1f} GiB RAM, {platform.python_implementation()} "
        f"{platform.python_version()}, server {version}"
    )
    results.add("scale_products", scale.products, "products")
    results.add("scale_lots", scale.lots, "lots")
    results.add("scale_visits", scale.visits, "visits")
    results.add("scale_mappings", scale.mappings, "mappings")
