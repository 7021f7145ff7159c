"""The scheduler's job registration (no database: jobs are not run)."""

from __future__ import annotations

from aesthetic_inventory.alerts.config import AlertConfig
from aesthetic_inventory.scheduler import build_scheduler


def test_jobs_registered_with_ids_and_limits() -> None:
    config = AlertConfig(
        service_poll_seconds=15, service_drain_seconds=1, service_outbox_seconds=30
    )
    scheduler = build_scheduler(object(), config, "host:1")
    # not started: the jobs wait in the scheduler's pending list
    jobs = {job.id: job for job, *_rest in scheduler._pending_jobs}  # noqa: SLF001
    assert set(jobs) == {"alert-scan", "change-queue", "outbox", "sweep-fallback"}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
        assert job.misfire_grace_time >= 5
    assert jobs["alert-scan"].trigger.interval.total_seconds() == 15
    assert jobs["change-queue"].trigger.interval.total_seconds() == 1
    assert jobs["outbox"].trigger.interval.total_seconds() == 30
