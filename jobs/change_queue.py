"""Jobs: drain the consumption change queue (the billing triggers queue changed
visits), and sweep recent visits instead when the triggers are missing."""

from __future__ import annotations

import logging

from aesthetic_inventory.bootstrap import App
from aesthetic_inventory.consumption.batch import default_since, drain_change_queue, sweep_visits
from aesthetic_inventory.consumption.policy import lot_policy
from aesthetic_inventory.consumption.results import DrainResult, SweepResult
from aesthetic_inventory.install.triggers import trigger_status

log = logging.getLogger("aesthetic_inventory.jobs.change_queue")


def run_drain_job(app: App) -> DrainResult:
    """Reconcile queued visits."""
    result = drain_change_queue(
        app.unit_of_work, service_username=app.settings.service_username,
        policy=lot_policy(app.settings),
    )
    # Every tick: one line at INFO only when the queue held work, else DEBUG.
    log.log(
        logging.INFO if result.visits else logging.DEBUG,
        "drain job: %s visit(s), %s changed, %s skipped",
        result.visits,
        result.changed,
        result.skipped,
    )
    return result


def run_sweep_fallback_job(app: App) -> SweepResult | None:
    """Sweep recent visits when the billing triggers are missing (sweep mode).

    Without triggers nothing queues OpenEMR's own fee-sheet saves, so the service
    reconciles the last seven days instead, every few minutes. With triggers in
    place this costs one information_schema read and does nothing.
    """
    with app.unit_of_work() as uow:
        mode = trigger_status(uow.connection).mode
    if mode != "sweep":
        log.debug("sweep job: billing triggers installed, nothing to do")
        return None
    result = sweep_visits(
        app.unit_of_work, since=default_since(), service_username=app.settings.service_username,
        policy=lot_policy(app.settings),
    )
    log.info(
        "sweep job (no billing triggers): %s visit(s) since %s, %s changed, %s failed",
        result.visits,
        result.since,
        result.changed,
        result.failed,
    )
    return result
