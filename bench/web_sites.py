"""``python -m bench.web_sites``: what serving two OpenEMR sites from one ``serve`` costs
a request, against one site, measured in the same run.

A private MariaDB gets two site databases (real OpenEMR schema, ``migrate``, the
generated clinic of the chosen scale, OpenEMR's default ACL, a nurse each). The real
``aesthetic-inventory serve`` runs in its own process, first for site A alone (the
baseline: no site options), then with ``--site default=A --site site2=B``; the same
number of client threads call GET materials for the same time, all on A for the
baseline, half on each site with two sites (each half with its own site's token).
Reported: requests, p50/p95, and the server's CPU milliseconds per request (user +
system of the server process: what a request costs, whatever else the machine does),
with the ratios two sites / one site and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading

import httpx

from .web import TESTS, _run, _ServeProcess

sys.path.insert(0, str(TESTS))

from aesthetic_inventory.db import create_db_engine  # noqa: E402
from aesthetic_inventory.install.service import migrate  # noqa: E402
from aesthetic_inventory.private_server import PrivateServer  # noqa: E402

from .generate import Scale, generate_clinic  # noqa: E402

PASSWORD = "Bench-pass-1"


class _SitesServe(_ServeProcess):
    """``aesthetic-inventory serve`` with site options (none: the one-site baseline)."""

    def __init__(self, url_a: str, sites: list[str]) -> None:  # noqa: D107
        super().__init__(url_a, options=tuple(x for site in sites for x in ("--site", site)))

    def token(self, site: str | None) -> dict[str, str]:
        body = {"username": "bench_nurse", "password": PASSWORD}
        if site:
            body["site"] = site
        resp = httpx.post(self.url + "/api/v1/auth/token", json=body)
        resp.raise_for_status()
        return {"Authorization": "Bearer " + resp.json()["accessToken"]}


def _site(info: object, name: str, scale: str) -> tuple[str, list[tuple[int, int]]]:
    from clinic import Clinic

    db = info.create_database(name)  # type: ignore[attr-defined]
    info.load_openemr_schema(db)  # type: ignore[attr-defined]
    url = str(info.database_url(db))  # type: ignore[attr-defined]
    engine = create_db_engine(url)
    try:
        migrate(engine)
        generated = generate_clinic(engine, Scale.named(scale))
        builder = Clinic(engine)
        builder.install_default_acl()
        builder.add_openemr_user("bench_nurse", ["clin"], password=PASSWORD)
        return url, list(generated.visits)
    finally:
        engine.dispose()


def _phase(live: _SitesServe, groups: list[tuple[dict[str, str], list[tuple[int, int]], int]],
           seconds: float) -> dict[str, float | int]:
    """Every group (token, visits, clients) at once; the requests and latencies merged."""
    results: list[dict[str, float | int]] = []

    def run(headers: dict[str, str], visits: list[tuple[int, int]], clients: int) -> None:
        def get(http: httpx.Client, rng: random.Random) -> httpx.Response:
            pid, enc = rng.choice(visits)
            return http.get(f"/api/v1/visits/{pid}/{enc}/materials")
        results.append(_run(clients, seconds, get, live.url, headers))

    cpu = live.cpu_seconds()
    threads = [threading.Thread(target=run, args=group) for group in groups]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged: dict[str, float | int] = {
        "requests": sum(int(r["requests"]) for r in results),
        "errors": sum(int(r["errors"]) for r in results),
        # the groups have equal clients: the mean of their percentiles
        "p50_ms": round(sum(float(r["p50_ms"]) for r in results) / len(results), 2),
        "p95_ms": round(sum(float(r["p95_ms"]) for r in results) / len(results), 2),
    }
    return live.measured(merged, cpu)


def main(argv: list[str] | None = None) -> int:
    import dbtools

    parser = argparse.ArgumentParser(prog="python -m bench.web_sites", description=__doc__)
    parser.add_argument("--scale", choices=("tiny", "quick", "full"), default="tiny")
    parser.add_argument("--clients", type=int, default=10, help="even: half per site")
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args(argv)
    half = max(1, args.clients // 2)

    server = PrivateServer()
    info = dbtools.ServerInfo(url=server.start())
    results: dict[str, object] = {"scale": args.scale, "clients": 2 * half,
                                  "seconds": args.seconds, "load_before": os.getloadavg()}
    try:
        url_a, visits_a = _site(info, "aibench_site_a", args.scale)
        url_b, visits_b = _site(info, "aibench_site_b", args.scale)
        one = _SitesServe(url_a, [])
        try:
            token = one.token(None)
            results["one_site"] = _phase(one, [(token, visits_a, half), (token, visits_a, half)],
                                         args.seconds)
        finally:
            one.stop()
        two = _SitesServe(url_a, [f"default={url_a}", f"site2={url_b}"])
        try:
            results["two_sites"] = _phase(two, [(two.token("default"), visits_a, half),
                                                (two.token("site2"), visits_b, half)],
                                          args.seconds)
        finally:
            two.stop()
        base, both = results["one_site"], results["two_sites"]
        assert isinstance(base, dict) and isinstance(both, dict)
        results["ratio_two_over_one"] = {
            key: round(float(both[key]) / float(base[key]), 3)
            for key in ("server_cpu_ms_per_request", "p50_ms", "p95_ms") if base[key]}
    finally:
        server.stop()
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
