"""``python -m bench --scale quick|full``: generate a clinic, measure, write results.json."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .database import bench_database
from .generate import Scale, generate_clinic
from .reports_bench import bench_reports
from .runner import (
    Results,
    bench_alerts,
    bench_concurrency,
    bench_latency,
    bench_ledger,
    bench_sweep,
    machine_metrics,
)
from .service_latency import bench_service_latency

# Per scale: latency iterations, concurrent visits, baseline sweep sample, sweep days.
PLAN = {"quick": (30, 240, 200, 30), "full": (100, 800, 1000, 30), "tiny": (5, 40, 20, 30)}
# Per scale: saves at 1/s, saves at 20/s, stock arrivals (service process latencies).
SERVICE_PLAN = {"quick": (30, 200, 20), "full": (60, 400, 30), "tiny": (3, 20, 3)}
HIGHER_IS_BETTER = {"concurrent_consumes_per_s", "sweep_visits_per_s", "sweep_steady_visits_per_s"}


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _ratio(name: str, value: float | None, baseline: float | None) -> str:
    if value is None or baseline is None:
        return ""
    if name in HIGHER_IS_BETTER:
        return f"{value / baseline:.1f}x" if baseline else ""
    if value == 0:
        return "0 vs " + _fmt(baseline) if baseline else ""
    return f"{baseline / value:.1f}x"


def print_table(results: Results) -> None:
    print(f"{'metric':34} {'module':>12} {'baseline':>12} {'better by':>10}  unit / note")
    for m in results.metrics:
        note = f"{m.unit}" + (f"; {m.note}" if m.note else "")
        print(f"{m.name:34} {_fmt(m.value):>12} {_fmt(m.baseline):>12} "
              f"{_ratio(m.name, m.value, m.baseline):>10}  {note}")
    for line in results.notes:
        print("note:", line)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scale", choices=sorted(PLAN), default="quick")
    parser.add_argument("--database-url", help="server URL (default: a private server)")
    parser.add_argument("--output", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args(argv)
    scale = Scale.named(args.scale)
    iterations, concurrent_visits, sweep_sample, sweep_days = PLAN[args.scale]
    results = Results()
    started = time.perf_counter()
    with bench_database(args.database_url) as (engine, db_url):
        t = time.perf_counter()
        clinic = generate_clinic(engine, scale)
        results.add("generate_s", round(time.perf_counter() - t, 1), "s", None,
                    "clinic generation with batched inserts")
        machine_metrics(scale, engine, results)
        bench_latency(engine, clinic, results, iterations)
        bench_concurrency(engine, clinic, results, concurrent_visits)
        bench_alerts(engine, db_url, clinic, results)
        bench_sweep(engine, clinic, results, sweep_sample, sweep_days)
        bench_service_latency(engine, db_url, clinic, results, SERVICE_PLAN[args.scale])
        bench_reports(engine, clinic, results)
        bench_ledger(engine, results)
    results.add("bench_total_s", round(time.perf_counter() - started, 1), "s")
    print_table(results)
    Path(args.output).write_text(json.dumps(results.as_json(), indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
