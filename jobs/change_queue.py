"""Job: drain the consumption change queue (billing triggers queue changed visits)."""

from __future__ import annotations

import logging
from typing import Any

from aesthetic_inventory.alerts.service import AppLike

log = logging.getLogger("aesthetic_inventory.jobs.change_queue")


def run_drain_job(app: AppLike) -> Any:
    """Reconcile queued visits. Imported lazily: the consumption engine is a
    separate concern and may be absent from an older install."""
    try:
        from aesthetic_inventory.consumption.service import drain_change_queue
    except ImportError:
        log.debug("drain job: consumption engine not available")
        return None
    result = drain_change_queue(
        app.engine, service_username=app.settings.service_username,
        policy=app.settings.lot_policy,
    )
    visits = getattr(result, "visits", 0)
    # Every second: one line at INFO only when the queue held work, else DEBUG.
    log.log(
        logging.INFO if visits else logging.DEBUG,
        "drain job: %s visit(s), %s changed, %s skipped",
        visits,
        getattr(result, "changed", 0),
        getattr(result, "skipped", 0),
    )
    return result


def run_sweep_fallback_job(app: AppLike) -> Any:
    """Sweep recent visits when the billing triggers are missing (sweep mode).

    Without triggers nothing queues OpenEMR's own fee-sheet saves, so the service
    reconciles the last seven days instead, every few minutes. With triggers in
    place this costs one information_schema read and does nothing.
    """
    try:
        from aesthetic_inventory.consumption.service import default_since, sweep_visits
        from aesthetic_inventory.install.triggers import trigger_status
    except ImportError:
        log.debug("sweep job: consumption engine not available")
        return None
    with app.engine.connect() as conn:
        mode = trigger_status(conn).mode
    if mode != "sweep":
        log.debug("sweep job: billing triggers installed, nothing to do")
        return None
    result = sweep_visits(
        app.engine, since=default_since(), service_username=app.settings.service_username,
        policy=app.settings.lot_policy,
    )
    log.info(
        "sweep job (no billing triggers): %s visit(s) since %s, %s changed, %s failed",
        result.visits,
        result.since,
        result.changed,
        result.failed,
    )
    return result
