"""The scheduler's job registration (no database: jobs are not run)."""

from __future__ import annotations

from aesthetic_inventory.alerts.config import AlertConfig
from aesthetic_inventory.bootstrap import build_app
from aesthetic_inventory.scheduler import build_scheduler


def test_jobs_registered_with_ids_and_limits() -> None:
    config = AlertConfig(
        service_poll_seconds=15, service_drain_seconds=1, service_outbox_seconds=30
    )
    app = build_app(environ={})  # no database: nothing connects until a job runs
    scheduler = build_scheduler(app, config, "host:1")
    # not started: get_jobs() lists the pending jobs
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"alert-scan", "change-queue", "outbox", "sweep-fallback",
                         "ledger-seal", "containers-waste"}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time >= 5
    assert jobs["alert-scan"].trigger.interval.total_seconds() == 15
    assert jobs["change-queue"].trigger.interval.total_seconds() == 1
    assert jobs["outbox"].trigger.interval.total_seconds() == 30
    assert jobs["containers-waste"].trigger.interval.total_seconds() == 300
    assert all(job.args[0] is app for job in jobs.values())
