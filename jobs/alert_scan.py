"""Job: the alert scan, run only when the ``background_services`` row is active
and due, claimed with OpenEMR's own statement and released afterwards."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aesthetic_inventory.alerts.config import AlertConfig
from aesthetic_inventory.alerts.repositories.background import (
    BackgroundServiceRepository,
    ServiceRow,
)
from aesthetic_inventory.alerts.service import run_alert_scan
from aesthetic_inventory.bootstrap import App
from aesthetic_inventory.db import is_lock_conflict

log = logging.getLogger("aesthetic_inventory.jobs.alert_scan")


@dataclass(frozen=True)
class AlertJobOutcome:
    """What one tick of the alert job did: ``inactive``, ``missing``, ``not-due``,
    ``claimed-elsewhere`` or ``ran``."""

    status: str
    detail: str = ""


def _claim(app: App, config: AlertConfig, owner: str) -> ServiceRow | AlertJobOutcome:
    """The row claimed by this process (committed), or why the job does nothing."""
    with app.unit_of_work() as uow:
        services = uow.get(BackgroundServiceRepository)
        if services.hand_back_bridgeless_claim():
            uow.commit()
            log.info("alert job: OpenEMR's runner claimed the row without a bridge; run here")
        stale = services.recover_stale(config.claim_timeout_minutes)
        if stale:
            uow.commit()
            log.warning("alert job: recovered a stale claim held by %s", stale)
        row = services.read()
        if row is None:
            log.info("alert job: background_services row missing (run migrate)")
            return AlertJobOutcome("missing")
        if not row.active:
            log.info("alert job: service inactive, nothing to do")
            return AlertJobOutcome("inactive")
        if not row.due:
            status = "claimed-elsewhere" if row.running >= 1 else "not-due"
            log.debug("alert job: %s (next run %s)", status, row.next_run)
            return AlertJobOutcome(status, f"next run {row.next_run}")
        if not services.claim(row.execute_interval, owner):
            uow.commit()
            return AlertJobOutcome("claimed-elsewhere")
        uow.commit()
        return row


def run_alert_job(app: App, config: AlertConfig, owner: str) -> AlertJobOutcome:
    """Read the row, recover a stale claim, claim if due, scan, release."""
    try:
        claimed = _claim(app, config, owner)
    except Exception as exc:
        if not is_lock_conflict(exc):
            raise
        # Another service (on another cluster node) claimed or recovered the row at
        # the same instant and won the commit: it runs the scan.
        log.info("alert job: another service claimed the run at the same time")
        return AlertJobOutcome("claimed-elsewhere")
    if isinstance(claimed, AlertJobOutcome):
        return claimed
    row = claimed
    try:
        result = run_alert_scan(app)
        detail = (
            f"{len(result.notified)} notified, {len(result.delivery.delivered)} delivered, "
            f"{len(result.delivery.failed)} failed"
        )
    finally:
        with app.unit_of_work() as uow:
            uow.get(BackgroundServiceRepository).release(owner)
            uow.commit()
    log.info(
        "alert job: claimed, ran and released (%s; next run in %s min)",
        detail,
        row.execute_interval,
    )
    return AlertJobOutcome("ran", detail)
