"""User-facing latencies of the real ``aesthetic-inventory service`` process.

* save-to-deducted: a billing row committed by a plain client (autocommit, empty
  ``sql_mode``, as OpenEMR's PHP fee sheet writes it) until its ``AUTO_PROC`` row is
  committed by the service (billing trigger -> change queue -> queue worker);
* stock-arrival-to-shortage-filled: a receipt written as OpenEMR's lot screen writes
  it (``on_hand`` raised and a purchase ``drug_sales`` row, one transaction) until the
  oldest visit short of that product holds its ``AUTO_PROC`` row.

An observer thread polls ``drug_sales`` by primary key every ~2 ms on its own
autocommit connection, so a figure includes up to one poll interval of observation
delay. The service's alert scan is switched off for the run (the clinic-wide scan
runs once a day and is measured separately), so the figures are the queue's own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pymysql
from sqlalchemy.engine import Engine, make_url

from .generate import GeneratedClinic, add_stocked_products

POLL_SECONDS = 0.002


def _connect(db_url: str) -> pymysql.connections.Connection:
    url = make_url(db_url)
    return pymysql.connect(
        host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username or "root",
        password=url.password or "", database=url.database, autocommit=True,
    )


class _Observer(threading.Thread):
    """Records when each visit's first AUTO_PROC row becomes visible."""

    def __init__(self, db_url: str) -> None:
        super().__init__(daemon=True)
        self.conn = _connect(db_url)
        cur = self.conn.cursor()
        cur.execute("SELECT COALESCE(MAX(sale_id), 0) FROM drug_sales")
        self.last = int(cur.fetchone()[0])
        self.seen: dict[tuple[int, int], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        cur = self.conn.cursor()
        while not self.stop.is_set():
            cur.execute(
                "SELECT sale_id, pid, encounter FROM drug_sales WHERE sale_id > %s "
                "AND selector LIKE 'AUTO_PROC:%%'", (self.last,))
            now = time.perf_counter()
            for sale_id, pid, encounter in cur.fetchall():
                self.last = max(self.last, int(sale_id))
                self.seen.setdefault((int(pid), int(encounter)), now)
            time.sleep(POLL_SECONDS)
        self.conn.close()

    def wait_for(self, keys: list[tuple[int, int]], timeout: float) -> None:
        end = time.perf_counter() + timeout
        while time.perf_counter() < end and not all(k in self.seen for k in keys):
            time.sleep(0.01)


@contextmanager
def _service(db_url: str, drain_seconds: float) -> Iterator[subprocess.Popen[bytes]]:
    env = dict(os.environ)
    env.update({
        "AESTHETIC_INVENTORY_DATABASE_URL": db_url,
        "AESTHETIC_INVENTORY_SERVICE_DRAIN_SECONDS": str(drain_seconds),
    })
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("aesthetic-inventory")), "service"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _encounters(conn: Any, clinic: GeneratedClinic, n: int, pid_base: int) -> list[tuple[int, int]]:
    cur = conn.cursor()
    keys = []
    for i in range(n):
        keys.append((pid_base + i, clinic.next_encounter))
        clinic.next_encounter += 1
    cur.executemany(
        "INSERT INTO form_encounter (date, pid, encounter, reason) VALUES (%s, %s, %s, %s)",
        [(datetime.combine(clinic.today, datetime.min.time()), p, e, "latency bench")
         for p, e in keys],
    )
    return keys


def _save(cur: Any, code: str, pid: int, encounter: int) -> None:
    """One fee-sheet line as OpenEMR's BillingUtilities::addBilling inserts it."""
    cur.execute(
        "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
        "authorized, encounter, code_text, billed, activity, units, fee) VALUES "
        "(NOW(), 'CPT4', %s, %s, 0, NULL, 'Default', 1, %s, '', 0, 1, 1, 0)",
        (code, pid, encounter),
    )


def _pcts(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000, 1)

    return at(0.5), at(0.95), at(0.99)


def _save_to_deducted(observer: _Observer, conn: Any, codes: list[str], keys: list[tuple[int, int]],
                      rate: float) -> list[float]:
    cur = conn.cursor()
    committed: dict[tuple[int, int], float] = {}
    start = time.perf_counter() + 0.2
    for i, (pid, enc) in enumerate(keys):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        _save(cur, codes[i % len(codes)], pid, enc)  # autocommit: committed on return
        committed[(pid, enc)] = time.perf_counter()
    observer.wait_for(keys, timeout=30)
    return [observer.seen[k] - committed[k] for k in keys if k in observer.seen]


def _arrival_to_filled(observer: _Observer, conn: Any, clinic: GeneratedClinic, arrivals: int
                       ) -> list[float]:
    """A product with no stock and ``arrivals`` visits short of it (1 unit each); each
    receipt of 1 unit must fill the oldest short visit."""
    cur = conn.cursor()
    cur.execute("INSERT INTO drugs (name, allow_combining, dispensable, active) "
                "VALUES ('Bench arrival', 1, 1, 1)")
    drug = int(cur.lastrowid)
    cur.execute("INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) VALUES (%s, 'ARR-1', '2099-01-01', 0, 'onsite')", (drug,))
    lot = int(cur.lastrowid)
    cur.execute("INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
                "VALUES ('CPT4', 'ARRIVE1', %s, 1)", (drug,))
    keys = _encounters(conn, clinic, arrivals, pid_base=960_000)
    for pid, enc in keys:
        _save(cur, "ARRIVE1", pid, enc)
    # wait until the service recorded every shortage
    end = time.perf_counter() + 60
    while time.perf_counter() < end:
        cur.execute("SELECT COUNT(*) FROM aesthetic_inventory_usage WHERE drug_id = %s "
                    "AND shortage_units > 0", (drug,))
        if int(cur.fetchone()[0]) == arrivals:
            break
        time.sleep(0.05)
    times = []
    for pid, enc in keys:  # oldest first: each arrival fills the next visit
        conn.begin()
        cur.execute("UPDATE drug_inventory SET on_hand = on_hand + 1 WHERE inventory_id = %s",
                    (lot,))
        cur.execute("INSERT INTO drug_sales (drug_id, inventory_id, prescription_id, pid, "
                    "encounter, user, sale_date, quantity, fee, billed, trans_type) VALUES "
                    "(%s, %s, 0, 0, 0, 'admin', CURDATE(), -1, -10, 0, 2)", (drug, lot))
        conn.commit()
        arrived = time.perf_counter()
        observer.wait_for([(pid, enc)], timeout=10)
        if (pid, enc) in observer.seen:
            times.append(observer.seen[(pid, enc)] - arrived)
        time.sleep(0.1)
    return times


def bench_service_latency(engine: Engine, db_url: str, clinic: GeneratedClinic, results: Any,
                          plan: tuple[int, int, int], drain_seconds: float = 0.1) -> None:
    """Run the service process and measure both latencies (``plan``: saves at 1/s,
    saves at 20/s, stock arrivals)."""
    slow, fast, arrivals = plan
    codes = add_stocked_products(engine, clinic, "SVC", products=5, lots_per_product=20,
                                 lot_size=1000, quantity_per_unit=1)
    conn = _connect(db_url)
    cur = conn.cursor()
    cur.execute("SET SESSION sql_mode = ''")
    cur.execute("UPDATE background_services SET active = 0 WHERE name = 'AestheticInventoryAlerts'")
    # the generator's bulk billing inserts queued every generated visit (thousands of
    # rows a real clinic never has at once); the figures are about fresh saves
    cur.execute("DELETE FROM aesthetic_inventory_change_queue")
    cur.execute("DELETE FROM aesthetic_inventory_stock_queue")
    observer = _Observer(db_url)
    observer.start()
    try:
        with _service(db_url, drain_seconds) as proc:
            time.sleep(3)  # the service starts, connects and drains once
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                results.notes.append(f"service latency: the service did not start: {err[-300:]}")
                return
            for rate, n in ((1.0, slow), (20.0, fast)):
                keys = _encounters(conn, clinic, n, pid_base=950_000 + int(rate) * 1000)
                lat = _save_to_deducted(observer, conn, codes, keys, rate)
                p50, p95, p99 = _pcts(lat) if lat else (None, None, None)
                tag = f"{int(rate)}ps"
                note = (f"{len(lat)}/{n} saves at {rate:g}/s, drain every {drain_seconds:g} s"
                        if lat else "no save was deducted")
                results.add(f"save_to_deducted_p50_ms_{tag}", p50, "ms", None, note)
                results.add(f"save_to_deducted_p95_ms_{tag}", p95, "ms", None,
                            "target <= 250 ms")
                results.add(f"save_to_deducted_p99_ms_{tag}", p99, "ms", None)
            filled = _arrival_to_filled(observer, conn, clinic, arrivals)
            p50, p95, _ = _pcts(filled) if filled else (None, None, None)
            results.add("stock_arrival_to_filled_p50_ms", p50, "ms", None,
                        f"{len(filled)}/{arrivals} receipts, each filling the oldest short visit")
            results.add("stock_arrival_to_filled_p95_ms", p95, "ms", None, "target <= 2000 ms")
    finally:
        observer.stop.set()
        observer.join(timeout=5)
        cur.execute("UPDATE background_services SET active = 1 "
                    "WHERE name = 'AestheticInventoryAlerts'")
        conn.close()
