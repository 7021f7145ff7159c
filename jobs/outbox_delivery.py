"""Job: deliver due outbox rows (retries with backoff happen here)."""

from __future__ import annotations

import logging

from aesthetic_inventory.alerts.outbox import DeliveryReport
from aesthetic_inventory.alerts.service import AppLike, deliver_pending

log = logging.getLogger("aesthetic_inventory.jobs.outbox_delivery")


def run_outbox_job(app: AppLike) -> DeliveryReport:
    """One delivery pass; logs one line."""
    report = deliver_pending(app)
    log.info("outbox job: %d delivered, %d failed", len(report.delivered), len(report.failed))
    return report
