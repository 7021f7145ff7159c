"""Thin calls into the module's public services, as the benchmark uses them.

Kept in one place so that a change of a service signature is one edit here. Each
function imports lazily: a missing service makes its benchmark report "not
available" instead of stopping the whole run.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aesthetic_inventory.consumption.results import SweepResult
from aesthetic_inventory.unit_of_work import UnitOfWork
from sqlalchemy.engine import Engine

SERVICE_USER = "admin"


def available(concern: str) -> bool:
    """Whether the service module of ``concern`` (consumption, alerts) exists yet."""
    import importlib.util

    try:
        return importlib.util.find_spec(f"aesthetic_inventory.{concern}.service") is not None
    except ImportError:
        return False


def reconcile(engine: Engine, pid: int, encounter: int) -> Any:
    """Reconcile one visit in one transaction (the service re-runs it on a deadlock)."""
    from aesthetic_inventory.consumption.service import reconcile_visit

    return reconcile_visit(UnitOfWork(engine), pid, encounter, service_username=SERVICE_USER)


def sweep(engine: Engine, since: date) -> SweepResult:
    """Reconcile every visit since ``since``."""
    from aesthetic_inventory.consumption.batch import sweep_visits

    return sweep_visits(lambda: UnitOfWork(engine), since=since, service_username=SERVICE_USER)


def alert_scan(database_url: str, *, dry_run: bool) -> Any:
    """One alert scan through the composition root, as the CLI runs it."""
    from aesthetic_inventory.alerts.service import run_alert_scan
    from aesthetic_inventory.bootstrap import build_app

    app = build_app(database_url=database_url, environ={})
    try:
        return run_alert_scan(app, dry_run=dry_run)
    finally:
        app.close()
