"""The background service: one APScheduler ``BlockingScheduler`` process.

Jobs (plain functions in ``jobs/``), each with an explicit id, ``coalesce=True``,
``max_instances=1`` and a misfire grace time:

- ``alert-scan``: every ``service_poll_seconds`` (default 15) read the
  ``AestheticInventoryAlerts`` row; run the scan only when active and due, claimed
  with OpenEMR's statement, released after;
- ``change-queue``: drain the consumption change queue every ``service_drain_seconds`` (0.1);
- ``outbox``: deliver the outbox every ``service_outbox_seconds`` (30);
- ``sweep-fallback``: every ``service_sweep_seconds`` (300), only when the billing
  triggers are missing (sweep mode), reconcile the visits of the last seven days.

Durable state lives in tables (background_services, the claims table, the outbox),
not in an APScheduler job store, so a restart loses nothing. SIGTERM/SIGINT shut
the scheduler down and release a claim this process still holds.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from .alerts.background import BackgroundServiceRepository
from .alerts.config import AlertConfig
from .alerts.service import check_alert_setup
from .bootstrap import App

log = logging.getLogger("aesthetic_inventory.service")


def process_owner() -> str:
    """Who holds a claim: ``host:pid`` (recorded in the claims table)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def _on_job_event(event: JobExecutionEvent) -> None:
    if event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run time %s", event.job_id, event.scheduled_run_time)
    elif event.exception is not None:
        # One line: the job failed, the scheduler keeps running and tries next time.
        first = (str(event.exception).splitlines() or [""])[0][:300]
        log.error("job %s failed: %s: %s", event.job_id, type(event.exception).__name__, first)


def _busy_drain_filter(record: logging.LogRecord) -> bool:
    """Drop the skipped-run warning of the change-queue job only."""
    message = record.getMessage()
    return not ("change-queue" in message and "maximum number of running instances" in message)


def build_scheduler(
    app: App, config: AlertConfig, owner: str, executor: ThreadPoolExecutor | None = None
) -> BlockingScheduler:
    """The scheduler with the three jobs registered (not started)."""
    from aesthetic_inventory.jobs.alert_scan import run_alert_job
    from aesthetic_inventory.jobs.change_queue import run_drain_job, run_sweep_fallback_job
    from aesthetic_inventory.jobs.outbox_delivery import run_outbox_job

    scheduler = BlockingScheduler(
        executors={"default": executor or ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    scheduler.add_listener(_on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    # the queue drain ticks every 0.1 s: a drain still busy at the next tick is normal,
    # not worth APScheduler's "maximum number of running instances" warning each tick
    logging.getLogger("apscheduler.scheduler").addFilter(_busy_drain_filter)
    start = datetime.now() + timedelta(milliseconds=200)
    jobs: list[tuple[str, Callable[..., Any], tuple[Any, ...], float]] = [
        ("alert-scan", run_alert_job, (app, config, owner), config.service_poll_seconds),
        ("change-queue", run_drain_job, (app,), config.service_drain_seconds),
        ("outbox", run_outbox_job, (app,), config.service_outbox_seconds),
        ("sweep-fallback", run_sweep_fallback_job, (app,), config.service_sweep_seconds),
    ]
    for job_id, func, args, seconds in jobs:
        scheduler.add_job(
            func,
            "interval",
            seconds=seconds,
            args=args,
            id=job_id,
            name=job_id,
            next_run_time=start,  # first run right away, then on the interval
            coalesce=True,  # missed runs collapse into one
            max_instances=1,  # never two runs of the same job at once
            misfire_grace_time=int(max(seconds, 5)),
            replace_existing=True,
        )
    return scheduler


def release_claim(app: App, owner: str) -> bool:
    """Release the alert claim if this process holds it (shutdown path)."""
    with app.unit_of_work() as uow:
        released = uow.get(BackgroundServiceRepository).release(owner)
        uow.commit()
    return released


def run_service(app: App) -> None:
    """Run until SIGTERM/SIGINT; settings are validated before anything starts."""
    config = check_alert_setup(app)  # settings and OpenEMR's SMTP globals, at start
    _ = app.settings.lot_policy  # a bad engine setting stops the start, not every drain tick
    owner = process_owner()
    executor = ThreadPoolExecutor(max_workers=4)
    scheduler = build_scheduler(app, config, owner, executor)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("service: %s received, stopping", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info(
        "service: started as %s (alert check every %ss, queue drain every %ss, outbox every %ss, "
        "sweep check every %ss, channels %s)",
        owner,
        config.service_poll_seconds,
        config.service_drain_seconds,
        config.service_outbox_seconds,
        config.service_sweep_seconds,
        ",".join(config.channels),
    )
    try:
        scheduler.start()
    finally:
        # Let a job that is mid-run finish its transaction, then give back the claim.
        executor.shutdown(wait=True)
        if release_claim(app, owner):
            log.info("service: released the alert claim held at shutdown")
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("service: stopped")
