"""Job: deliver due outbox rows (retries with backoff happen here)."""

from __future__ import annotations

import logging

from aesthetic_inventory.alerts.outbox import DeliveryReport
from aesthetic_inventory.alerts.service import deliver_pending
from aesthetic_inventory.bootstrap import App

log = logging.getLogger("aesthetic_inventory.jobs.outbox_delivery")


def run_outbox_job(app: App) -> DeliveryReport:
    """One delivery pass; logs one line (INFO when it did something, else DEBUG,
    so an idle service does not write a line every 30 seconds)."""
    report = deliver_pending(app)
    busy = bool(report.delivered or report.failed)
    log.log(
        logging.INFO if busy else logging.DEBUG,
        "outbox job: %d delivered, %d failed",
        len(report.delivered),
        len(report.failed),
    )
    return report
