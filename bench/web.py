"""``python -m bench.web --scale full``: the web API under 20 concurrent clients.

A private MariaDB gets the real OpenEMR schema, ``migrate``, the generated clinic of the
chosen scale (``bench.generate``), OpenEMR's default ACL and a nurse; the real application
runs as ``aesthetic-inventory serve`` in its own process (the load generator must not share
the server's interpreter lock); 20 client threads (httpx, one keep-alive connection each) call
GET materials for 30 s, then PUT materials (actual usage on random visits) for 30 s.
Reported: requests, errors, p50/p95/max latency, the ledger afterwards, and the round trips
one GET and one PUT cost (server ``Questions`` plus the pool's pings, which the server does
not count as questions), measured on the same application in this process, one request at a
time, nothing else talking to the private server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from aesthetic_inventory.db import create_db_engine  # noqa: E402
from aesthetic_inventory.install.service import migrate  # noqa: E402
from aesthetic_inventory.private_server import PrivateServer  # noqa: E402

from .generate import Scale, generate_clinic, ledger_report  # noqa: E402

PASSWORD = "Bench-pass-1"


def _usage_available() -> bool:
    try:
        from aesthetic_inventory.usage import service  # noqa: F401
    except ImportError:
        return False
    return True


def _run(clients: int, seconds: float, make_request: Callable[[httpx.Client, random.Random],
                                                               httpx.Response],
         url: str, headers: dict[str, str]) -> dict[str, float | int]:
    latencies: list[float] = []
    errors: list[int] = []
    methods: dict[str, int] = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def worker(n: int) -> None:
        rng = random.Random(n)
        mine: list[float] = []
        bad = 0
        seen: dict[str, int] = {}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
            while time.monotonic() < stop:
                t = time.perf_counter()
                resp = make_request(http, rng)
                mine.append(time.perf_counter() - t)
                seen[resp.request.method] = seen.get(resp.request.method, 0) + 1
                if resp.status_code >= 400:
                    bad += 1
        with lock:
            latencies.extend(mine)
            errors.append(bad)
            for method, count in seen.items():
                methods[method] = methods.get(method, 0) + count

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "by_final_method": methods,
        "errors": sum(errors),
        "per_s": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _round_trips(engine: object, database_url: str, visits: list[tuple[int, int]],
                 requests: int = 20) -> dict[str, float]:
    """Round trips per GET and per PUT materials (one client, sequential)."""
    import dbtools
    from aesthetic_inventory.bootstrap import build_app
    from aesthetic_inventory.web.app import create_web_app
    from starlette.testclient import TestClient
    from webserver import WEB_SECRET

    app = build_app(database_url=database_url, environ={
        "AESTHETIC_INVENTORY_WEB_SECRET": WEB_SECRET,
        "AESTHETIC_INVENTORY_WEB_LOGIN_ATTEMPTS": "1000"})
    pings = [0]
    dialect = app.engine.dialect
    real_ping = dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        pings[0] += 1
        return bool(real_ping(dbapi_connection))

    dialect.do_ping = counting_ping  # type: ignore[method-assign]
    counter = dbtools.ServerCounter(engine)  # type: ignore[arg-type]
    rng = random.Random(7)
    out: dict[str, float] = {}
    try:
        with TestClient(create_web_app(app)) as http:
            token = http.post("/api/v1/auth/token", json={
                "username": "bench_nurse", "password": PASSWORD}).json()["accessToken"]
            http.headers["Authorization"] = "Bearer " + token
            chosen = [rng.choice(visits) for _ in range(requests)]
            shown = [http.get(f"/api/v1/visits/{p}/{e}/materials").json() for p, e in chosen]
            for kind in ("GET", "PUT"):
                start, pings[0] = counter.read(), 0
                for (pid, enc), view in zip(chosen, shown, strict=True):
                    path = f"/api/v1/visits/{pid}/{enc}/materials"
                    if kind == "GET":
                        http.get(path)
                        continue
                    body = {"materials": [
                        {"usageId": m["usageId"], "actualQuantity": rng.choice([0, 1, 2]),
                         "varianceReason": "OTHER"} for m in view.get("materials", [])[:3]]}
                    if body["materials"]:
                        http.put(path, json=body)
                questions = counter.read() - start - counter.overhead
                out[f"per_{kind.lower()}"] = round((questions + pings[0]) / requests, 2)
                out[f"pings_per_{kind.lower()}"] = round(pings[0] / requests, 2)
    finally:
        counter.close()
        app.close()
    return out


class _ServeProcess:
    """``aesthetic-inventory serve`` on a free port, stopped with SIGTERM."""

    def __init__(self, database_url: str, workers: int = 1,
                 options: tuple[str, ...] = ()) -> None:
        from webserver import WEB_SECRET, free_port

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        script = Path(sys.executable).with_name("aesthetic-inventory")
        env = dict(os.environ, AESTHETIC_INVENTORY_DATABASE_URL=database_url,
                   AESTHETIC_INVENTORY_WEB_SECRET=WEB_SECRET,
                   AESTHETIC_INVENTORY_WEB_LOGIN_ATTEMPTS="1000")
        command = [str(script), "serve", "--port", str(port), *options]
        if workers > 1:
            command += ["--workers", str(workers)]
        self.proc = subprocess.Popen(command, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("aesthetic-inventory serve did not start")
            time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server process and its worker processes so far:
        what a request costs the server, whatever else the machine is doing."""
        pids = [self.proc.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    if f"\nPPid:\t{self.proc.pid}\n" in (entry / "status").read_text():
                        pids.append(int(entry.name))
                except OSError:
                    continue
        ticks = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")

    def measured(self, result: dict[str, float | int], start: float) -> dict[str, float | int]:
        """``result`` with the server's CPU milliseconds per request since ``start``."""
        used = self.cpu_seconds() - start
        result["server_cpu_ms_per_request"] = round(used * 1000 / max(1, int(result["requests"])),
                                                    2)
        return result

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)


def main(argv: list[str] | None = None) -> int:
    import dbtools
    from clinic import Clinic

    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__)
    parser.add_argument("--scale", choices=("tiny", "quick", "full"), default="quick")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers")
    parser.add_argument("--output", default=str(Path(__file__).with_name("results-web.json")))
    args = parser.parse_args(argv)

    server = PrivateServer()
    info = dbtools.ServerInfo(url=server.start())
    name = info.create_database("aibenchweb")
    info.load_openemr_schema(name)
    url = info.database_url(name)
    engine = create_db_engine(url)
    results: dict[str, object] = {"scale": args.scale, "clients": args.clients,
                                  "seconds": args.seconds, "workers": args.workers,
                                  "load_before": os.getloadavg()}
    try:
        migrate(engine)
        generated = generate_clinic(engine, Scale.named(args.scale))
        builder = Clinic(engine)
        builder.install_default_acl()
        builder.add_openemr_user("bench_nurse", ["clin"], password=PASSWORD)
        visits = generated.visits
        live = _ServeProcess(url, args.workers)
        try:
            token = httpx.post(live.url + "/api/v1/auth/token",
                               json={"username": "bench_nurse", "password": PASSWORD}
                               ).json()["accessToken"]
            headers = {"Authorization": "Bearer " + token}
            if _usage_available():
                def get(http: httpx.Client, rng: random.Random) -> httpx.Response:
                    pid, enc = rng.choice(visits)
                    return http.get(f"/api/v1/visits/{pid}/{enc}/materials")

                def put(http: httpx.Client, rng: random.Random) -> httpx.Response:
                    pid, enc = rng.choice(visits)
                    shown = http.get(f"/api/v1/visits/{pid}/{enc}/materials").json()
                    materials = [
                        {"usageId": m["usageId"], "actualQuantity": rng.choice([0, 1, 2]),
                         "varianceReason": "OTHER"}
                        for m in shown.get("materials", [])[:3]
                    ]
                    if not materials:
                        return http.get(f"/api/v1/visits/{pid}/{enc}/materials")
                    return http.put(f"/api/v1/visits/{pid}/{enc}/materials",
                                    json={"materials": materials})

                cpu = live.cpu_seconds()
                results["get_materials_1_client"] = live.measured(
                    _run(1, 10, get, live.url, headers), cpu)
                cpu = live.cpu_seconds()
                results["get_materials"] = live.measured(
                    _run(args.clients, args.seconds, get, live.url, headers), cpu)
                cpu = live.cpu_seconds()
                results["put_materials"] = live.measured(
                    _run(args.clients, args.seconds, put, live.url, headers), cpu)
                results["note"] = "PUT timings include the GET that picks the usage ids"
                results["round_trips"] = _round_trips(engine, url, visits)
            else:
                codes = generated.mapped_codes

                def bom(http: httpx.Client, rng: random.Random) -> httpx.Response:
                    return http.get(f"/api/v1/procedures/CPT4/{rng.choice(codes)}/consumables")

                results["get_consumables"] = _run(args.clients, args.seconds, bom, live.url,
                                                  headers)
                results["note"] = "usage service not in this build: materials not measured"
        finally:
            live.stop()
        unbalanced, oversold, negative = ledger_report(engine)
        results["ledger"] = {"unbalanced_lots": unbalanced, "oversold_units": oversold,
                             "negative_lots": negative}
    finally:
        engine.dispose()
        info.drop_database(name)
        server.stop()
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
