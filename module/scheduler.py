"""The background service: one APScheduler ``BlockingScheduler`` process.

Jobs (plain functions in ``jobs/``), each with an explicit id, ``coalesce=True``,
``max_instances=1`` and a misfire grace time:

- ``alert-scan``: every ``service_poll_seconds`` (default 15) read the
  ``AestheticInventoryAlerts`` row; run the scan only when active and due, claimed
  with OpenEMR's statement, released after;
- ``change-queue``: drain the consumption change queue every ``service_drain_seconds`` (0.1);
- ``outbox``: deliver the outbox every ``service_outbox_seconds`` (30);
- ``ledger-seal``: hourly, seal the movement ledger's rows older than five minutes
  (``doctor`` then shows rows deleted, truncated or changed);
- ``sweep-fallback``: every ``service_sweep_seconds`` (300), only when the billing
  triggers are missing (sweep mode), reconcile the visits of the last seven days;
- ``containers-waste``: every 300 s, write off what is left in containers past
  beyond-use plus ``container_grace_hours`` (12).

Durable state lives in tables (background_services, the claims table, the outbox),
not in an APScheduler job store, so a restart loses nothing. SIGTERM/SIGINT shut
the scheduler down and release a claim this process still holds.

One process may serve several OpenEMR site databases (:func:`run_sites`): each site
gets its own jobs (ids ``<site>:<job>``), claims, outbox and outage gate
(``module/outage.py``: one line when its database goes away, backoff, one line when
it is back), so one failing site never stalls another.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from aesthetic_inventory.jobs.alert_scan import run_alert_job
from aesthetic_inventory.jobs.change_queue import run_drain_job, run_sweep_fallback_job
from aesthetic_inventory.jobs.containers_waste import run_containers_waste_job
from aesthetic_inventory.jobs.ledger_seal import SEAL_INTERVAL_SECONDS, run_ledger_seal_job
from aesthetic_inventory.jobs.outbox_delivery import run_outbox_job
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from .alerts.background import BackgroundServiceRepository, process_owner
from .alerts.config import AlertConfig
from .alerts.service import check_alert_setup
from .bootstrap import App
from .consumption.policy import lot_policy
from .errors import AestheticInventoryError, DatabaseUnavailableError
from .outage import OutageGate

log = logging.getLogger("aesthetic_inventory.service")

# waste is due hours after beyond-use (the grace period): a check every 5 minutes is ample
WASTE_JOB_SECONDS = 300


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


def new_scheduler(executor: ThreadPoolExecutor | None = None) -> BlockingScheduler:
    """An empty scheduler with the service's job defaults and event logging."""
    scheduler = BlockingScheduler(
        executors={"default": executor or ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    scheduler.add_listener(_on_job_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    # the queue drain ticks every 0.1 s: a drain still busy at the next tick is normal,
    # not worth APScheduler's "maximum number of running instances" warning each tick
    logging.getLogger("apscheduler.scheduler").addFilter(_busy_drain_filter)
    return scheduler


def add_site_jobs(
    scheduler: BlockingScheduler, app: App, config: AlertConfig, owner: str, *, site: str = ""
) -> OutageGate:
    """Register one database's jobs (ids prefixed ``<site>:`` when serving
    several sites), all behind one :class:`OutageGate`: while that database is
    away its jobs back off and log two lines in all, and no other site notices."""
    gate = OutageGate(f"database of site {site}" if site else "database")
    prefix = f"{site}:" if site else ""
    start = datetime.now() + timedelta(milliseconds=200)
    jobs: list[tuple[str, Callable[..., Any], tuple[Any, ...], float]] = [
        ("alert-scan", run_alert_job, (app, config, owner), config.service_poll_seconds),
        ("change-queue", run_drain_job, (app,), config.service_drain_seconds),
        ("outbox", run_outbox_job, (app,), config.service_outbox_seconds),
        ("sweep-fallback", run_sweep_fallback_job, (app,), config.service_sweep_seconds),
        ("ledger-seal", run_ledger_seal_job, (app,), SEAL_INTERVAL_SECONDS),
        ("containers-waste", run_containers_waste_job, (app,), WASTE_JOB_SECONDS),
    ]
    for job_id, func, args, seconds in jobs:
        scheduler.add_job(
            gate.guard(func),
            "interval",
            seconds=seconds,
            args=args,
            id=prefix + job_id,
            name=prefix + job_id,
            next_run_time=start,  # first run right away, then on the interval
            coalesce=True,  # missed runs collapse into one
            max_instances=1,  # never two runs of the same job at once
            misfire_grace_time=int(max(seconds, 5)),
            replace_existing=True,
        )
    return gate


def build_scheduler(
    app: App, config: AlertConfig, owner: str, executor: ThreadPoolExecutor | None = None
) -> BlockingScheduler:
    """The scheduler of one database with its jobs registered (not started)."""
    scheduler = new_scheduler(executor)
    add_site_jobs(scheduler, app, config, owner)
    return scheduler


def release_claim(app: App, owner: str) -> bool:
    """Release the alert claim if this process holds it (shutdown path)."""
    with app.unit_of_work() as uow:
        released = uow.get(BackgroundServiceRepository).release(owner)
        uow.commit()
    return released


def run_service(app: App) -> None:
    """Run one database's service until SIGTERM/SIGINT; settings are validated
    before anything starts."""
    config = check_alert_setup(app)  # settings and OpenEMR's SMTP globals, at start
    _ = lot_policy(app.settings)  # a bad engine setting stops the start, not every drain tick
    _run([("", app, config)])


def run_sites(sites: Sequence[tuple[str, App]]) -> None:
    """Serve several site databases from one process, each with its own jobs,
    claims, outbox and outage gate. A site whose settings or OpenEMR mail setup are
    wrong is left out with one line; one that cannot be reached now is served
    anyway (its jobs wait for it). Nothing starts when no site is usable."""
    _ = lot_policy(sites[0][1].settings) if sites else None
    served: list[tuple[str, App, AlertConfig]] = []
    for name, app in sites:
        try:
            config = check_alert_setup(app)
        except DatabaseUnavailableError as exc:
            log.error("service: site %s: %s; serving it when it is back", name, exc)
            config = app.alert_config
        except AestheticInventoryError as exc:
            log.error("service: site %s left out: %s", name, exc)
            continue
        served.append((name, app, config))
    if not served:
        raise AestheticInventoryError("no site could be served (see the lines above)")
    _run(served)


def _run(sites: Sequence[tuple[str, App, AlertConfig]]) -> None:
    """Start the scheduler with every site's jobs; at SIGTERM/SIGINT let running
    jobs finish and give back the claims this process holds."""
    owner = process_owner()
    executor = ThreadPoolExecutor(max_workers=min(4 + 2 * (len(sites) - 1), 32))
    scheduler = new_scheduler(executor)
    for name, app, config in sites:
        add_site_jobs(scheduler, app, config, owner, site=name)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("service: %s received, stopping", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    _log_start(owner, sites)
    try:
        scheduler.start()
    finally:
        # Let a job that is mid-run finish its transaction, then give back the claims.
        executor.shutdown(wait=True)
        for name, app, _config in sites:
            try:
                if release_claim(app, owner):
                    log.info("service: released the alert claim%s held at shutdown",
                             f" of site {name}" if name else "")
            except AestheticInventoryError as exc:  # that site is away; its claim expires
                log.warning("service: site %s: claim not released: %s", name, exc)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        log.info("service: stopped")


def _log_start(owner: str, sites: Sequence[tuple[str, App, AlertConfig]]) -> None:
    config = sites[0][2]
    where = f", sites {', '.join(name for name, _, _ in sites)}" if sites[0][0] else ""
    log.info(
        "service: started as %s (alert check every %ss, queue drain every %ss, outbox every %ss, "
        "sweep check every %ss, channels %s%s)",
        owner,
        config.service_poll_seconds,
        config.service_drain_seconds,
        config.service_outbox_seconds,
        config.service_sweep_seconds,
        ",".join(config.channels),
        where,
    )
