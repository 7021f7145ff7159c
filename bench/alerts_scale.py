"""``python -m bench.alerts_scale --lots 1000000``: the alert scan at a million lots
(issue 21): the first scan, the steady scan with nothing changed, the steady scan after a
few hundred stock movements, and the next morning's scan (lots crossing into the expiry
horizon and expiring with no write), each incremental, against a full scan of the same
database in the same run (``alerts run --full``, what every steady scan did before).

The clinic is generated in a few statements (``INSERT ... SELECT`` from MariaDB's
``seq_1_to_N`` tables): 10,000 products (a reorder point on two thirds, a 100-unit vial
on every tenth), lots spread over them (5% expired, 10% expiring within 30 days, 3%
destroyed). The steady scans run three times each (a shared machine: medians); prints
each scan with the machine's load average and writes JSON."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aesthetic_inventory.alerts.digest import build_template_environment
from aesthetic_inventory.alerts.service import ScanResult, scan
from aesthetic_inventory.bootstrap import build_app
from aesthetic_inventory.unit_of_work import unit_of_work_factory as factory_of
from sqlalchemy import text
from sqlalchemy.engine import Engine

from .database import bench_database

PRODUCTS = 10_000
MOVEMENTS = 300
ROUNDS = 3  # incremental scans of each kind (the machine is shared: medians)


def generate(engine: Engine, lots: int, today: Any) -> None:
    """Products, package settings and lots, in bulk (see the module docstring)."""
    lot_sql = (
        "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, warehouse_id, "
        "destroy_date) SELECT :first + s.seq % :products, CONCAT('L', s.seq), "
        "CASE WHEN s.seq * 7919 % 100 < 5 THEN :today - INTERVAL 1 + s.seq % 200 DAY "
        "WHEN s.seq * 7919 % 100 < 15 THEN :today + INTERVAL s.seq % 31 DAY "
        "ELSE :today + INTERVAL 31 + s.seq % 970 DAY END, "
        "IF(s.seq * 104729 % 100 < 3, 0, 1 + s.seq % 60), 'onsite', "
        "IF(s.seq * 104729 % 100 < 3, :today - INTERVAL 1 + s.seq % 90 DAY, NULL) "
        "FROM seq_{start}_to_{end} s"
    )
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO drugs (name, reorder_point, max_level, allow_combining, dispensable, "
            "active) SELECT CONCAT('Product ', LPAD(seq, 5, '0')), "
            "ELT(1 + seq % 6, 0, 0, 5, 10, 20, 50), 0, 1, 1, 1 "
            f"FROM seq_1_to_{PRODUCTS}"))
        first = int(conn.execute(text("SELECT MIN(drug_id) FROM drugs "
                                      "WHERE name LIKE 'Product %'")).scalar_one())
        conn.execute(text(
            "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
            "counting_unit, package_unit) SELECT drug_id, 100, 'U', 'vial' FROM drugs "
            "WHERE name LIKE 'Product %' AND drug_id % 10 = 0"))
    for start in range(1, lots + 1, 200_000):  # one transaction per 200k lots
        end = min(lots, start + 199_999)
        with engine.begin() as conn:
            conn.execute(text(lot_sql.format(start=start, end=end)),
                         {"first": first, "products": PRODUCTS, "today": today})
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE TABLE drugs, drug_inventory").all()


def sell(engine: Engine, count: int, today: Any) -> None:
    """``count`` sales as OpenEMR's ``sellDrug`` writes them: a ``drug_sales`` row and
    the lot's ``on_hand`` decremented, each in its own transaction."""
    with engine.connect() as conn:
        lots = conn.execute(text(
            "SELECT inventory_id, drug_id FROM drug_inventory WHERE on_hand > 2 "
            "AND destroy_date IS NULL ORDER BY inventory_id * 2654435761 % 1000003 LIMIT :n"),
            {"n": count}).all()
    for inventory_id, drug_id in lots:
        with engine.begin() as conn:
            conn.execute(text("UPDATE drug_inventory SET on_hand = on_hand - 2 "
                              "WHERE inventory_id = :i"), {"i": inventory_id})
            conn.execute(text(
                "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, "
                "quantity, fee, trans_type) VALUES (:d, :i, 1, 1, :t, 2, 0, 1)"),
                {"d": drug_id, "i": inventory_id, "t": today})


def timed(call: Callable[[], ScanResult]) -> tuple[float, ScanResult]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts_scale", description=__doc__)
    parser.add_argument("--lots", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="server URL (default: a private server)")
    parser.add_argument("--output", default="bench/results-alerts-scale.json")
    args = parser.parse_args(argv)
    now = datetime.now().replace(hour=10, minute=0, second=0, microsecond=0)
    rows: list[dict[str, Any]] = []
    with bench_database(args.database_url) as (engine, db_url):
        app = build_app(database_url=db_url, environ={})
        config = app.alert_config
        env = build_template_environment()

        def run(label: str, at: datetime, *, full: bool = False) -> ScanResult:
            seconds, result = timed(
                lambda: scan(factory_of(engine), config, env, now=at, full=full))
            load = os.getloadavg()[0]
            rows.append({"scan": label, "seconds": round(seconds, 3), "mode": result.mode,
                         "notified": len(result.notified), "resolved": result.resolved,
                         "current": result.current, "load1": round(load, 2)})
            print(f"{label:44} {seconds:8.3f} s  {result.mode:36} notified "
                  f"{len(result.notified):>7} resolved {result.resolved:>5} "
                  f"current {result.current:>7} load {load:.2f}", flush=True)
            return result

        started = time.perf_counter()
        generate(engine, args.lots, now.date())
        print(f"generated {args.lots} lots in {time.perf_counter() - started:.1f} s", flush=True)
        at = iter(now + timedelta(minutes=m) for m in range(0, 600, 5))
        run("first scan (everything new)", next(at))
        for _ in range(ROUNDS):
            run("steady, nothing changed (incremental)", next(at))
        for _ in range(2):
            run("steady, nothing changed (full, baseline)", next(at), full=True)
        for _ in range(ROUNDS):
            sell(engine, MOVEMENTS, now.date())
            run(f"steady after {MOVEMENTS} sales (incremental)", next(at))
        sell(engine, MOVEMENTS, now.date())
        run(f"steady after {MOVEMENTS} sales (full, baseline)", next(at), full=True)
        run("next morning, no writes (incremental)", now + timedelta(hours=20))
        summary = {label: statistics.median(r["seconds"] for r in rows if r["scan"] == label)
                   for label in dict.fromkeys(r["scan"] for r in rows)}
        for label, seconds in summary.items():
            print(f"median {label:44} {seconds:8.3f} s")
        app.close()
    with open(args.output, "w", encoding="utf-8") as fh:
        json.dump({"lots": args.lots, "products": PRODUCTS, "medians_s": summary,
                   "scans": rows}, fh, indent=1)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
