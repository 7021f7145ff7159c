"""Read-only views at scale: ``stock``, ``stock --lots``, ``recall`` and every report,
as the CLI builds them (service + document + renderer into a discarding sink), each
timed (median of 3) with its statement count and Python memory peak.

Baselines, where one exists: the stock view done per product (one availability query
per product, as the seed's PHP listed stock), and OpenEMR's own Inventory Activity
algorithm (its row query read row by row plus three end-inventory queries per product).
OpenEMR has no recall or usage report to compare with."""

from __future__ import annotations

import importlib.util
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from .generate import GeneratedClinic
from .runner import Results


class _Sink:
    """A text stream that keeps nothing (the bytes are counted); it notes when the
    first line of the lots section was written (``mark`` = the text that starts it)."""

    def __init__(self, mark: str | None = None) -> None:
        self.chars = 0
        self.started = time.perf_counter()
        self.first_write: float | None = None
        self.mark = mark
        self.first_mark: float | None = None

    def write(self, s: str) -> int:
        now = time.perf_counter()
        if self.first_write is None:
            self.first_write = now - self.started
        if self.mark is not None and self.first_mark is None and self.mark in s:
            self.first_mark = now - self.started
        self.chars += len(s)
        return len(s)


def load_metric(results: Results, when: str) -> None:
    """The machine's load (1-minute average, as ``uptime`` shows it) next to the figures."""
    one, five, fifteen = os.getloadavg()
    results.add(f"load_avg_1m_{when}", round(one, 2), "load",
                note=f"uptime load averages {one:.2f} {five:.2f} {fifteen:.2f}, "
                f"{os.cpu_count()} CPUs")


def mysqlclient_engine(engine: Engine) -> Engine | None:
    """The same database through the optional C driver (``mysql+mysqldb://``), or None
    when mysqlclient is not installed (``pip install '.[fast]'``)."""
    if importlib.util.find_spec("MySQLdb") is None:
        return None
    from aesthetic_inventory.db import create_db_engine

    return create_db_engine(engine.url.set(drivername="mysql+mysqldb"))


def bench_stock_lots(engines: dict[str, Engine], today: Any, lots: int,
                     results: Results) -> None:
    """``stock --lots`` in each format and driver: total time, time to the first output
    line and to the first lot row (rows are written as they arrive), tracemalloc peak.
    The mysqlclient run's baseline is the PyMySQL run of the same format."""
    from aesthetic_inventory.reports import documents, service
    from aesthetic_inventory.reports.formatting import (
        render_sections_text,
        write_csv,
        write_json,
    )

    def run(engine: Engine, fmt: str) -> _Sink:
        sink = _Sink(mark={"json": '"lots": [', "csv": "# Lots",
                           "text": "== Lots =="}[fmt])
        with service.read_only(engine) as repo:
            rows = service.stock_rows(repo, today=today)
            doc = documents.stock_document(rows, service.stock_lots(repo, today=today),
                                           today=today)
            if fmt == "json":
                write_json(doc.sections, sink, doc.meta)  # type: ignore[arg-type]
            elif fmt == "csv":
                write_csv(doc.sections, sink)  # type: ignore[arg-type]
            else:
                for line in render_sections_text(doc.sections):
                    sink.write(line + "\n")
        return sink

    pymysql_s: dict[str, float] = {}
    for driver, engine in engines.items():
        run(engine, "json")  # warm-up
        for fmt in ("json", "csv", "text"):
            sinks, elapsed = [], []
            for _ in range(3):
                start = time.perf_counter()
                sinks.append(run(engine, fmt))
                elapsed.append(time.perf_counter() - start)
            tracemalloc.start()
            try:
                run(engine, fmt)
                peak = tracemalloc.get_traced_memory()[1] / 2**20
            finally:
                tracemalloc.stop()
            seconds = statistics.median(elapsed)
            first = statistics.median([s.first_write or 0 for s in sinks])
            first_lot = statistics.median([s.first_mark or 0 for s in sinks])
            if driver == "pymysql":
                pymysql_s[fmt] = seconds
            # the PyMySQL JSON run keeps the metric name earlier runs used
            name = ("report_stock_lots_s" if (fmt, driver) == ("json", "pymysql")
                    else f"report_stock_lots_{fmt}_{driver}_s")
            results.add(name, round(seconds, 3), "s",
                        None if driver == "pymysql" else round(pymysql_s[fmt], 3),
                        f"stock --lots --format {fmt}, {lots} lots through {driver}; first "
                        f"output line after {first:.3f} s, lots section after "
                        f"{first_lot:.3f} s; {sinks[0].chars} characters; peak {peak:.2f} MiB"
                        + ("" if driver == "pymysql" else "; baseline = PyMySQL"))


def _measure(engine: Engine, fn: Callable[[], Any], runs: int = 3) -> tuple[float, int, float]:
    """(median seconds, statements per run, tracemalloc peak MiB of one run)."""
    count = [0]

    def before(*_: Any) -> None:
        count[0] += 1

    event.listen(engine, "before_cursor_execute", before)
    try:
        fn()  # warm-up, and the statement count of one run
        statements = count[0]
    finally:
        event.remove(engine, "before_cursor_execute", before)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    try:
        fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return statistics.median(times), statements, round(peak / 2**20, 2)


def _baseline_stock(engine: Engine, today: Any) -> int:
    """One availability query per product (the seed's way)."""
    n = 0
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT drug_id FROM drugs"))]
        for drug_id in ids:
            conn.execute(text(
                "SELECT COALESCE(SUM(on_hand), 0) FROM drug_inventory WHERE drug_id = :d "
                "AND destroy_date IS NULL AND (expiration IS NULL OR expiration > :t)"),
                {"d": drug_id, "t": today}).scalar()
            n += 1
    return n


def _baseline_activity(engine: Engine, start: Any, end: Any, drug_id: int) -> int:
    """OpenEMR's Inventory Activity for one product (its "For" drop-down): the row
    query read row by row, then getEndInventory. Its join on ``inventory_id OR
    xfer_inventory_id`` has no usable index, so the all-products run is quadratic and
    does not finish at full scale; one product is what a user would ask it for."""
    from aesthetic_inventory.reports.domain import classify_sale

    products: set[int] = set()
    with engine.connect() as conn:
        rows = conn.execution_options(stream_results=True).execute(text(
            "SELECT s.sale_id, s.quantity, s.fee, s.pid, s.xfer_inventory_id, s.distributor_id, "
            "di.drug_id, di.inventory_id FROM drug_inventory AS di "
            "JOIN drugs AS d ON d.drug_id = di.drug_id LEFT JOIN drug_sales AS s ON "
            "s.sale_date >= :f AND s.sale_date <= :t AND s.drug_id = di.drug_id AND "
            "(s.inventory_id = di.inventory_id OR s.xfer_inventory_id = di.inventory_id) "
            "WHERE (di.destroy_date IS NULL OR di.destroy_date >= :f) AND di.drug_id = :d "
            "ORDER BY d.name, d.drug_id, di.warehouse_id, di.inventory_id, s.sale_date"),
            {"f": start, "t": end, "d": drug_id})
        for r in rows:
            products.add(r.drug_id)
            if r.sale_id:
                classify_sale(lot_id=r.inventory_id, xfer_inventory_id=r.xfer_inventory_id,
                              pid=r.pid, distributor_id=r.distributor_id, fee=r.fee,
                              quantity=r.quantity)
        for product in products:
            for sql in (
                "SELECT SUM(di.on_hand) FROM drug_inventory AS di WHERE "
                "(di.destroy_date IS NULL OR di.destroy_date > :t) AND di.drug_id = :d",
                "SELECT SUM(ds.quantity) FROM drug_sales AS ds, drug_inventory AS di WHERE "
                "ds.sale_date > :t AND di.inventory_id = ds.inventory_id AND di.drug_id = :d",
                "SELECT SUM(ds.quantity) FROM drug_sales AS ds, drug_inventory AS di WHERE "
                "ds.sale_date > :t AND di.inventory_id = ds.xfer_inventory_id "
                "AND di.drug_id = :d",
            ):
                conn.execute(text(sql), {"t": end, "d": product}).scalar()
    return len(products)


def bench_reports(engine: Engine, clinic: GeneratedClinic, results: Results) -> None:
    """Every read-only view at the clinic's scale."""
    from aesthetic_inventory.reports import documents, service
    from aesthetic_inventory.reports.formatting import render_sections_text, write_json

    today = clinic.today
    with engine.connect() as conn:
        lot = conn.execute(text(
            "SELECT di.lot_number FROM drug_sales ds JOIN drug_inventory di "
            "ON di.inventory_id = ds.inventory_id WHERE ds.pid <> 0 "
            "GROUP BY di.inventory_id, di.lot_number ORDER BY COUNT(*) DESC LIMIT 1")).scalar()
        pid = conn.execute(text(
            "SELECT pid FROM drug_sales WHERE pid <> 0 GROUP BY pid ORDER BY COUNT(*) DESC "
            "LIMIT 1")).scalar()
        lots = conn.execute(text("SELECT COUNT(*) FROM drug_inventory")).scalar_one()
        busiest = conn.execute(text(
            "SELECT drug_id FROM drug_sales WHERE pid <> 0 GROUP BY drug_id "
            "ORDER BY COUNT(*) DESC LIMIT 1")).scalar()

    def emit_json(doc: documents.Document) -> None:
        write_json(doc.sections, _Sink(), doc.meta)  # type: ignore[arg-type]

    def stock() -> None:
        with service.read_only(engine) as repo:
            rows = service.stock_rows(repo, today=today)
            for _ in render_sections_text(documents.stock_document(rows, None,
                                                                   today=today).sections):
                pass

    def recall_lot() -> None:
        with service.read_only(engine) as repo:
            emit_json(documents.lot_recall_document(service.recall_lot(repo, lot, today=today)))

    def recall_patient() -> None:
        with service.read_only(engine) as repo:
            emit_json(documents.patient_recall_document(pid, service.recall_patient(repo, pid)))

    def expiring() -> None:
        with service.read_only(engine) as repo:
            emit_json(documents.expiring_document(
                service.expiring_lots(repo, today=today, horizon_days=30), today=today,
                horizon_days=30))

    start30 = today - timedelta(days=30)

    def activity() -> None:
        with service.read_only(engine) as repo:
            emit_json(documents.activity_document(
                service.activity_rows(repo, start=start30, end=today), start=start30,
                end=today))

    def activity_one() -> None:
        with service.read_only(engine) as repo:
            emit_json(documents.activity_document(
                service.activity_rows(repo, start=start30, end=today, product=busiest),
                start=start30, end=today))

    start_year = today - timedelta(days=364)

    def usage() -> None:
        with service.read_only(engine) as repo:
            emit_json(documents.usage_document(
                service.usage_report(repo, start=start_year, end=today), start=start_year,
                end=today))

    def shortages() -> None:
        with service.read_only(engine) as repo:
            emit_json(documents.shortages_document(service.shortages(repo), today=today))

    def html_all() -> None:
        with service.read_only(engine) as repo:
            parts = [
                documents.stock_document(service.stock_rows(repo, today=today), None,
                                         today=today),
                documents.usage_document(service.usage_report(repo, start=start_year,
                                                              end=today),
                                         start=start_year, end=today),
            ]
            doc = documents.combined_document(parts, title="all", meta={})
            documents.render_html(doc, documents.template_environment(),
                                  generated=datetime.now())

    load_metric(results, "before_reports")
    base_stock = statistics.median(
        [_time(lambda: _baseline_stock(engine, today)) for _ in range(2)])
    base_activity = statistics.median(
        [_time(lambda: _baseline_activity(engine, start30, today, busiest)) for _ in range(3)])
    for name, fn, baseline, note in (
        ("report_stock_s", stock, base_stock, "every product; baseline one query per product"),
        ("report_recall_lot_s", recall_lot, None, f"recall --lot {lot} (most sold lot)"),
        ("report_recall_patient_s", recall_patient, None, f"recall --patient {pid}"),
        ("report_expiring_s", expiring, None, "30-day horizon"),
        ("report_activity_s", activity, None, "30 days, every product"),
        ("report_activity_one_product_s", activity_one, base_activity,
         f"30 days, product {busiest}; baseline OpenEMR's algorithm (row loop + 3 queries)"),
        ("report_usage_s", usage, None, "one year, 4 breakdowns from one scan"),
        ("report_shortages_s", shortages, None, "open shortages"),
        ("report_html_stock_usage_s", html_all, None, "stock + usage sections and charts as HTML"),
    ):
        seconds, statements, peak = _measure(engine, fn)
        results.add(name, round(seconds, 3), "s", round(baseline, 3) if baseline else None,
                    f"{note}; {statements} statements; peak {peak} MiB")
    engines = {"pymysql": engine}
    fast = mysqlclient_engine(engine)
    if fast is not None:
        engines["mysqlclient"] = fast
    else:
        results.notes.append("mysqlclient not installed: stock --lots measured on PyMySQL only")
    try:
        bench_stock_lots(engines, today, lots, results)
    finally:
        if fast is not None:
            fast.dispose()
    load_metric(results, "after_reports")


def _time(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
