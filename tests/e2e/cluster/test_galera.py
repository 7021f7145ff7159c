"""On a real 3-node MariaDB Galera cluster (every node takes writes, conflicts are
found at commit): fee-sheet writers, services and alert scans on different nodes.

Held: 0 oversold units, every ledger balanced (OpenEMR's rows and the module's movement
ledger), every save committed (retried after a certification conflict), no vial of the
product counted in units over-drawn and every draw on its own sale row, 0 duplicate
digests and 0 duplicate webhook sends when scans and deliveries run at the same instant
on two or three nodes.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import dbtools
import pytest
from aesthetic_inventory.alerts.service import deliver_pending, run_alert_scan
from aesthetic_inventory.consumption.fee_sheet import FeeSheetChanges, NewLine, save_fee_sheet
from aesthetic_inventory.db import create_db_engine, is_lock_conflict
from aesthetic_inventory.install import triggers
from aesthetic_inventory.install.doctor import run_doctor
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.unit_of_work import UnitOfWork
from galera import GaleraCluster
from netservers import Received, http_server
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.generate import GeneratedClinic, Scale, add_stocked_products, add_visits, ledger_report

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))
SERVICE = "aesthetic-inventory"


@pytest.fixture(scope="module")
def cluster() -> Iterator[GaleraCluster]:
    galera = GaleraCluster(3)
    galera.start()
    try:
        yield galera
    finally:
        galera.stop()


@pytest.fixture(scope="module")
def site(cluster: GaleraCluster) -> list[str]:
    """One utf8mb4 database with the real OpenEMR schema, migrated through node 1;
    its URL on each node."""
    server = dbtools.ServerInfo(url=cluster.nodes[0].url())
    name = server.create_database("aigc")
    server.load_openemr_schema(name)
    urls = [node.url(name) for node in cluster.nodes]
    engine = create_db_engine(urls[0])
    try:
        report = migrate(engine)
        assert report.triggers is not None and report.triggers.installed
    finally:
        engine.dispose()
    return urls


def _engines(urls: list[str]) -> list[Engine]:
    return [create_db_engine(url) for url in urls]


def _scalar(engine: Engine, sql: str, params: dict[str, Any] | None = None) -> Any:
    with engine.connect() as conn:
        return conn.execute(text(sql), params or {}).scalar()


def _wait_for(engine: Engine, sql: str, expected: Any, timeout: float = 30) -> None:
    """Poll a node until it has applied what another node committed."""
    deadline = time.monotonic() + timeout
    while (value := _scalar(engine, sql)) != expected:
        assert time.monotonic() < deadline, f"{sql} -> {value}, expected {expected}"
        time.sleep(0.1)


def _php_write(engine: Engine, sql: str, params: dict[str, Any]) -> None:
    """A write as OpenEMR's PHP sends it (empty sql_mode); a user saves again after a
    certification conflict (1213), at most 10 times."""
    for attempt in range(10):
        try:
            with engine.begin() as conn:
                conn.execute(text("SET SESSION sql_mode = ''"))
                conn.execute(text(sql), params)
            return
        except Exception as exc:
            if not is_lock_conflict(exc) or attempt == 9:
                raise
            time.sleep(random.uniform(0.01, 0.1))


def _run_together(jobs: list[Callable[[], Any]]) -> tuple[list[Any], list[BaseException]]:
    """Run the jobs in threads released at the same instant."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int, job: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except BaseException as exc:  # collected, asserted by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


def _service(url: str, log: Any, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CLI, "--database-url", url, "service"], env=env, stdout=log, stderr=subprocess.STDOUT
    )


def _wait_started(log: Any, services: list[subprocess.Popen[bytes]], count: int) -> None:
    """Until every service logged its start (read without moving the shared offset)."""
    deadline = time.monotonic() + 60
    while os.pread(log.fileno(), 1 << 20, 0).count(b"service: started") < count:
        assert all(p.poll() is None for p in services), "a service exited at start"
        assert time.monotonic() < deadline, "the services did not start"
        time.sleep(0.1)


def _unbalanced_lots(engine: Engine) -> list[dict[str, Any]]:
    """Each lot out of balance with its on_hand and every drug_sales row, so that a
    failure says which writes disagree."""
    with engine.connect() as conn:
        lots = conn.execute(text(
            "SELECT di.inventory_id, di.on_hand, s.total FROM drug_inventory AS di JOIN "
            "(SELECT inventory_id, SUM(quantity) AS total, SUM(trans_type = 2) AS receipts "
            "FROM drug_sales GROUP BY inventory_id) AS s ON s.inventory_id = di.inventory_id "
            "WHERE s.receipts > 0 AND di.on_hand + s.total <> 0")).all()
        return [
            {"lot": lot, "on_hand": on_hand, "sales_total": total,
             "sales": [tuple(row) for row in conn.execute(text(
                 "SELECT sale_id, trans_type, quantity, pid, encounter, selector "
                 "FROM drug_sales WHERE inventory_id = :lot ORDER BY sale_id"), {"lot": lot})],
             "usage": [tuple(row) for row in conn.execute(text(
                 "SELECT u.pid, u.encounter, u.drug_id, u.required_units, u.allocated_units, "
                 "u.shortage_units FROM aesthetic_inventory_usage u JOIN drug_sales ds ON "
                 "ds.pid = u.pid AND ds.encounter = u.encounter AND ds.drug_id = u.drug_id "
                 "WHERE ds.inventory_id = :lot"), {"lot": lot})]}
            for lot, on_hand, total in lots
        ]


def _ledger_mismatches(engine: Engine) -> list[tuple[Any, ...]]:
    """(lot, units its AUTO_PROC rows hold, units the movement ledger issued for visits)
    of each lot where the two differ (a visit's movement ledgered twice or never)."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(
            "SELECT di.inventory_id, COALESCE(s.held, 0), COALESCE(l.issued, 0) "
            "FROM drug_inventory di LEFT JOIN (SELECT inventory_id, SUM(quantity) AS held "
            "FROM drug_sales WHERE selector LIKE 'AUTO_PROC:%' GROUP BY inventory_id) s "
            "ON s.inventory_id = di.inventory_id LEFT JOIN (SELECT inventory_id, "
            "-SUM(quantity) AS issued FROM aesthetic_inventory_stock_ledger "
            "WHERE reference_type = 'visit' GROUP BY inventory_id) l "
            "ON l.inventory_id = di.inventory_id "
            "WHERE COALESCE(s.held, 0) <> COALESCE(l.issued, 0)"))]


def _vial_faults(engine: Engine) -> tuple[int, int, int]:
    """(vials that gave more than they held, draws whose sale row is gone or on another
    lot than their vial, AUTO_PROC rows of the counted product whose draws do not add
    up to their quantity)."""
    with engine.connect() as conn:
        row = conn.execute(text(
            "SELECT (SELECT COUNT(*) FROM aesthetic_inventory_container c "
            "WHERE c.units - c.units_wasted < (SELECT COALESCE(SUM(x.units), 0) "
            "FROM aesthetic_inventory_container_draw x WHERE x.container_id = c.id)), "
            "(SELECT COUNT(*) FROM aesthetic_inventory_container_draw x "
            "LEFT JOIN drug_sales ds ON ds.sale_id = x.sale_id "
            "JOIN aesthetic_inventory_container c ON c.id = x.container_id "
            "WHERE ds.sale_id IS NULL OR ds.inventory_id <> c.inventory_id), "
            "(SELECT COUNT(*) FROM drug_sales ds JOIN aesthetic_inventory_product_stock ps "
            "ON ps.drug_id = ds.drug_id AND ps.units_per_package > 1 "
            "WHERE ds.selector LIKE 'AUTO_PROC:%' AND ds.quantity <> (SELECT "
            "COALESCE(SUM(x.units), 0) FROM aesthetic_inventory_container_draw x "
            "WHERE x.sale_id = ds.sale_id))")).one()
    return int(row[0]), int(row[1]), int(row[2])


def _writer(engine: Engine, node: int, visits: list[tuple[int, int]], codes: list[str],
            seed: int) -> int:
    """Fee-sheet saves on one node: PHP-style unit edits and new lines (queued by the
    billing triggers), and the Python fee-sheet API (reconciled in the save)."""
    rng = random.Random(seed)
    saves = 0
    for _ in range(8):
        pid, encounter = rng.choice(visits)
        roll = rng.random()
        if roll < 0.4:
            _php_write(engine, "UPDATE billing SET units = :u WHERE pid = :p AND encounter = :e "
                       "AND code_type = 'CPT4' ORDER BY id LIMIT 1",
                       {"u": rng.randint(1, 4), "p": pid, "e": encounter})
        elif roll < 0.6:
            _php_write(
                engine,
                "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
                "authorized, encounter, code_text, billed, activity, units, fee) VALUES (NOW(), "
                "'CPT4', :c, :p, 1, 1, 'Default', 1, :e, 'galera', 0, 1, :u, 100)",
                {"c": rng.choice(codes), "p": pid, "e": encounter, "u": rng.randint(1, 3)},
            )
        else:
            save_fee_sheet(
                UnitOfWork(engine), pid, encounter,
                FeeSheetChanges(add=[NewLine("CPT4", rng.choice(codes), rng.randint(1, 2))]),
                service_username=SERVICE,
            )
        saves += 1
    return saves


def test_writers_and_services_on_three_nodes(site: list[str]) -> None:
    engines = _engines(site)
    try:
        clinic = GeneratedClinic(scale=Scale.named("tiny"), today=date.today(),
                                 next_encounter=50_000)
        codes = add_stocked_products(engines[0], clinic, "GAL", products=2, lots_per_product=4,
                                     lot_size=8)
        visits = add_visits(engines[0], clinic, [[(codes[i % 2], 1)] for i in range(12)],
                            pid_base=70_000)
        # the second product is counted in units: drawn from open 4-unit vials
        with engines[0].begin() as conn:
            conn.execute(text(
                "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
                "counting_unit, package_unit, beyond_use_hours) SELECT drug_id, 4, 'U', "
                "'vial', 24 FROM procedure_products WHERE code = :c"), {"c": codes[1]})
        for engine in engines:  # the triggers and the seed are on every node
            with engine.connect() as conn:
                assert triggers.trigger_status(conn).installed
            _wait_for(engine, "SELECT COUNT(*) FROM form_encounter WHERE pid >= 70000", 12)
        # the alert job is due: both services (nodes 2 and 3) try to claim it at once
        _add_low_stock_products(engines[0], "W", 3)
        with engines[0].begin() as conn:
            conn.execute(text(
                "UPDATE background_services SET active = 1, running = 0, execute_interval = 1440, "
                "next_run = NOW() - INTERVAL 1 MINUTE WHERE name = 'AestheticInventoryAlerts'"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
        env |= {"AESTHETIC_INVENTORY_SERVICE_DRAIN_SECONDS": "0.3",
                "AESTHETIC_INVENTORY_SERVICE_POLL_SECONDS": "1",
                "AESTHETIC_INVENTORY_CHANNELS": "crm"}
        with tempfile.TemporaryFile() as log:
            services = [_service(site[1], log, env), _service(site[2], log, env)]
            try:
                _wait_started(log, services, 2)
                jobs = [
                    (lambda e=engines[n % 3], n=n: _writer(e, n % 3, visits, codes, seed=n))
                    for n in range(6)
                ]
                saves, errors = _run_together(jobs)
                assert errors == [], errors
                assert sum(saves) == 48  # every save committed (after retries)
                _wait_for(engines[0], "SELECT COUNT(*) FROM aesthetic_inventory_change_queue", 0,
                          timeout=60)
                _wait_for(engines[0], "SELECT COUNT(*) FROM notification_log "
                          "WHERE smsgateway_info = 'AestheticInventory'", 1, timeout=60)
            finally:
                for proc in services:
                    proc.send_signal(signal.SIGTERM)
                codes_out = [proc.wait(timeout=60) for proc in services]
            log.seek(0)
            output = log.read().decode(errors="replace")
        assert codes_out == [0, 0], output
        assert "Traceback" not in output and " failed: " not in output, output
        # one service ran the alert job, once: one digest, one CRM row
        assert output.count("alert job: claimed, ran and released") == 1, output
        assert _scalar(engines[0], "SELECT COUNT(*) FROM aesthetic_inventory_outbox "
                       "WHERE channel = 'crm' AND status = 'delivered'") == 1
        assert _scalar(engines[0], "SELECT COUNT(*) FROM notification_log "
                       "WHERE smsgateway_info = 'AestheticInventory'") == 1
        result = subprocess.run([CLI, "--database-url", site[0], "sync"], env=env,
                                capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        # every node: balanced, nothing oversold
        assert [_unbalanced_lots(engine) for engine in engines] == [[], [], []]
        assert _ledger_mismatches(engines[0]) == []
        assert _vial_faults(engines[0]) == (0, 0, 0)
        assert _scalar(engines[0], "SELECT COUNT(*) FROM aesthetic_inventory_container_draw") > 0
        for engine in engines:
            assert ledger_report(engine) == (0, 0, 0)
        # what each visit holds is what its usage record says it was allocated
        mismatched = _scalar(
            engines[0],
            "SELECT COUNT(*) FROM aesthetic_inventory_usage u WHERE u.pid >= 70000 AND "
            "u.allocated_units <> (SELECT COALESCE(SUM(ds.quantity), 0) FROM drug_sales ds "
            "WHERE ds.pid = u.pid AND ds.encounter = u.encounter AND ds.drug_id = u.drug_id "
            "AND ds.selector LIKE 'AUTO_PROC:%') OR u.allocated_units + u.shortage_units "
            "<> u.required_units",
        )
        assert mismatched == 0
        assert _scalar(engines[0], "SELECT COUNT(*) FROM drug_sales WHERE pid >= 70000 "
                       "AND selector LIKE 'AUTO_PROC:%'") > 0
    finally:
        for engine in engines:
            engine.dispose()


def _add_low_stock_products(engine: Engine, prefix: str, count: int) -> None:
    with engine.begin() as conn:
        for n in range(count):
            drug = conn.execute(
                text("INSERT INTO drugs (name, active, dispensable, reorder_point, form, "
                     "allow_combining, allow_multiple) VALUES (:n, 1, 1, 5, 1, 1, 1)"),
                {"n": f"{prefix} product {n}"},
            ).lastrowid
            conn.execute(
                text("INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                     "warehouse_id) VALUES (:d, :l, '2099-01-01', 1, '')"),
                {"d": drug, "l": f"{prefix}-{n}"},
            )


def test_alert_scans_and_deliveries_on_several_nodes_send_each_digest_once(
    site: list[str],
) -> None:
    engines = _engines(site)

    def accept(_request: Received) -> tuple[int, dict[str, str]]:
        return 200, {}

    try:
        with http_server(accept) as (url, received):
            apps = [dbtools.make_app(u, channels="webhook", webhook_url=url + "/hook",
                                     webhook_secret="s3cret-for-the-cluster-test") for u in site]
            items = 0
            for round_no in range(3):
                _add_low_stock_products(engines[2], f"R{round_no}", 7)
                items += 7
                for engine in engines:
                    _wait_for(engine, "SELECT COUNT(*) FROM drugs WHERE name LIKE 'R%product%'",
                              items)
                states = _scalar(engines[0], "SELECT COUNT(*) FROM aesthetic_inventory_alert_state")
                results, errors = _run_together(
                    [lambda a=apps[0]: run_alert_scan(a, deliver=False),
                     lambda a=apps[1]: run_alert_scan(a, deliver=False)]
                )
                assert errors == [], errors
                added = _scalar(engines[0], "SELECT COUNT(*) FROM aesthetic_inventory_alert_state")
                # each item notified by one scan only; this round's 7 among them
                assert sum(r.new for r in results) == added - states >= 7
                assert sum(bool(r.notified) for r in results) == 1
                _, errors = _run_together([lambda a=a: deliver_pending(a) for a in apps])
                assert errors == [], errors
                digests = _scalar(engines[0], "SELECT COUNT(*) FROM aesthetic_inventory_outbox "
                                  "WHERE channel = 'webhook'")
                assert digests == round_no + 1
                assert _scalar(engines[0], "SELECT COUNT(*) FROM aesthetic_inventory_outbox "
                               "WHERE status <> 'delivered'") == 0
                keys = [r.headers.get("Idempotency-Key") for r in received]
                assert len(keys) == len(set(keys)) == round_no + 1, keys  # one POST each
            assert _scalar(engines[0], "SELECT MAX(notify_count) FROM "
                           "aesthetic_inventory_alert_state") == 1
            for app in apps:
                app.close()
    finally:
        for engine in engines:
            engine.dispose()


def _cluster_check(url: str) -> Any:
    engine = create_db_engine(url)
    try:
        report = run_doctor(engine)
    finally:
        engine.dispose()
    return next(c for c in report.checks if c.name == "cluster"), report


def test_doctor_knows_the_cluster(site: list[str]) -> None:
    check, report = _cluster_check(site[1])
    assert check.summary.startswith(
        "Galera cluster 'aesthetic_inventory_test', 3 node(s), this node Synced; primary keys"
    )
    assert check.status == "warn" and report.healthy
    assert check.problems == (
        "wsrep_sync_wait is 0: a read may miss a write another node committed",
    )
    assert "init_command=SET SESSION wsrep_sync_wait=1" in check.fix
    # as the fix says
    check, _ = _cluster_check(site[1] + "?init_command=SET SESSION wsrep_sync_wait%3D1")
    assert check.status == "ok", check
    # a module table without a primary key would not be certified by key
    engine = create_db_engine(site[0])
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE aesthetic_inventory_nokey (n int) ENGINE=InnoDB"))
        check, report = _cluster_check(site[2])
        assert check.status == "fail" and not report.healthy
        assert "without a primary key: aesthetic_inventory_nokey" in check.problems[0]
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE aesthetic_inventory_nokey"))
        engine.dispose()
