"""Memory and CPU of one ``aesthetic-inventory service`` process serving 1, 10 and
50 OpenEMR site databases (issue 20, multisite).

Every site is a migrated fixture database on one private server (or ``--server``).
For each site count the real service runs as a subprocess with ``--site NAME=URL``
per site; after a warm-up, the process's resident memory (``VmRSS``) and CPU time
(``utime + stime`` from ``/proc/<pid>/stat``) are sampled over a quiet window (no
work queued: the cost of serving sites that are idle, which is what most sites of
a clinic group are most of the time). Then one visit per site is saved by a plain
client (billing trigger -> change queue), one site after the other, and each site's
time from its save to its deduction is observed (``first_work_*``; includes up to
one poll round over all sites of observation delay).

    python -m bench.multisite                     # 1, 10, 50 sites, 20 s windows
    python -m bench.multisite --sites 1,5 --seconds 5 --drain-seconds 1
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.private_server import PrivateServer
from sqlalchemy import text

from .database import create_fixture_database, drop_database, migrate_database
from .generate import GeneratedClinic, Scale, add_stocked_products, add_visits

CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class SiteRun:
    """One measured run."""

    sites: int
    drain_seconds: float
    window_seconds: float
    rss_mib: float
    rss_per_site_mib: float
    cpu_percent: float
    cpu_percent_per_site: float
    threads: int
    first_work_median_seconds: float
    first_work_max_seconds: float


def _proc(pid: int) -> tuple[float, float, int]:
    """(RSS MiB, CPU seconds, threads) of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines()}
    rss = int(fields["VmRSS"].split()[0]) / 1024
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / TICKS  # utime, stime (fields 14, 15)
    return rss, cpu, int(fields["Threads"])


def _prepare_sites(server_url: str, count: int) -> list[str]:
    """``count`` migrated fixture databases, each with one stocked product."""
    urls = []
    for n in range(count):
        url = create_fixture_database(server_url, f"aims{n}")
        engine = create_db_engine(url)
        try:
            migrate_database(engine)
            clinic = GeneratedClinic(scale=Scale.named("tiny"), today=date.today())
            add_stocked_products(engine, clinic, "MS", products=1, lots_per_product=3,
                                 lot_size=1000)
        finally:
            engine.dispose()
        urls.append(url)
    return urls


def _first_work(urls: list[str], pid: int) -> list[float]:
    """Queue one visit per site (as a plain client, through the billing triggers)
    and return, per site, the seconds until its ``AUTO_PROC`` row was seen."""
    engines = [create_db_engine(url) for url in urls]
    try:
        queued: dict[int, float] = {}
        for n, engine in enumerate(engines):
            clinic = GeneratedClinic(scale=Scale.named("tiny"), today=date.today(),
                                     next_encounter=10_000 + pid)
            add_visits(engine, clinic, [[("MS0", 1)]], pid_base=pid)
            queued[n] = time.monotonic()
        seen: dict[int, float] = {}
        deadline = time.monotonic() + 120
        while len(seen) < len(engines):
            if time.monotonic() > deadline:
                raise RuntimeError("the service did not deduct every site's visit in 120 s")
            for n, engine in enumerate(engines):
                if n in seen:
                    continue
                with engine.connect() as conn:
                    if conn.execute(text(
                        "SELECT COUNT(*) FROM drug_sales WHERE pid = :p "
                        "AND selector LIKE 'AUTO_PROC:%'"), {"p": pid}).scalar_one():
                        seen[n] = time.monotonic() - queued[n]
            time.sleep(0.05)
        return sorted(seen.values())
    finally:
        for engine in engines:
            engine.dispose()


def measure(urls: list[str], *, seconds: float, drain_seconds: float, pid: int) -> SiteRun:
    """Run the service on ``urls``, measure the quiet window, then the first work."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    env["AESTHETIC_INVENTORY_SERVICE_DRAIN_SECONDS"] = str(drain_seconds)
    args = [CLI, "service"]
    for n, url in enumerate(urls):
        args += ["--site", f"s{n}={url}"]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(5 + len(urls) * 0.1)  # start-up and first runs of every job
        _, cpu0, _ = _proc(proc.pid)
        start = time.monotonic()
        time.sleep(seconds)
        rss, cpu1, threads = _proc(proc.pid)
        window = time.monotonic() - start
        latencies = _first_work(urls, pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    cpu = 100 * (cpu1 - cpu0) / window
    return SiteRun(len(urls), drain_seconds, round(window, 1), round(rss, 1),
                   round(rss / len(urls), 2), round(cpu, 1), round(cpu / len(urls), 2),
                   threads, round(statistics.median(latencies), 2), round(latencies[-1], 2))


def main(argv: list[str] | None = None) -> int:
    """Prepare the largest number of sites once, measure each count, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", default="1,10,50", help="comma list of site counts")
    parser.add_argument("--seconds", type=float, default=20.0, help="quiet window per run")
    parser.add_argument("--drain-seconds", type=float, default=0.1,
                        help="service_drain_seconds of the service (default: the default)")
    parser.add_argument("--server", help="a server URL (default: a private server)")
    options = parser.parse_args(argv)
    counts = [int(n) for n in options.sites.split(",")]
    server: PrivateServer | None = None
    server_url = options.server
    if server_url is None:
        server = PrivateServer()
        server_url = server.start()
    urls: list[str] = []
    try:
        started = time.monotonic()
        urls = _prepare_sites(server_url, max(counts))
        print(f"prepared {len(urls)} site databases in {time.monotonic() - started:.0f} s",
              file=sys.stderr)
        runs = []
        for n, count in enumerate(counts):
            run = measure(urls[:count], seconds=options.seconds,
                          drain_seconds=options.drain_seconds, pid=1000 + n)
            print(json.dumps(asdict(run)), file=sys.stderr)
            runs.append(asdict(run))
        print(json.dumps({"multisite": runs}, indent=2))
    finally:
        for url in urls:
            drop_database(url)
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
