"""``python -m bench.reports_only --scale full``: only what the read-only views need
(generate the clinic, back-fill a 30-day sweep so it has sales, then
:func:`~bench.reports_bench.bench_reports`); prints the table and writes JSON."""

from __future__ import annotations

import argparse
import json
import time

from .database import bench_database
from .generate import Scale, generate_clinic
from .reports_bench import bench_reports
from .runner import Results, bench_sweep, machine_metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reports_only", description=__doc__)
    parser.add_argument("--scale", choices=("tiny", "quick", "full"), default="quick")
    parser.add_argument("--database-url", help="server URL (default: a private server)")
    parser.add_argument("--output", default="bench/results-reports.json")
    args = parser.parse_args(argv)
    results = Results()
    started = time.perf_counter()
    with bench_database(args.database_url) as (engine, _):
        t = time.perf_counter()
        clinic = generate_clinic(engine, Scale.named(args.scale))
        results.add("generate_s", round(time.perf_counter() - t, 1), "s")
        machine_metrics(Scale.named(args.scale), engine, results)
        bench_sweep(engine, clinic, results, 20, 30)
        bench_reports(engine, clinic, results)
    results.add("bench_total_s", round(time.perf_counter() - started, 1), "s", None,
                "generation, sweep and every view")
    for m in results.metrics:
        print(f"{m.name:32} {m.value!s:>10} {m.baseline!s:>10}  {m.unit}; {m.note}")
    for line in results.notes:
        print("note:", line)
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump({"scale": args.scale, **results.as_json(),
                   "notes": results.notes}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
