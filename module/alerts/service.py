"""Alert scan: evaluate the rules, decide what is new, write the alert state and
the outbox in one transaction, then deliver the outbox."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from jinja2 import Environment
from sqlalchemy.engine import Engine

from ..db import table_exists
from ..errors import AestheticInventoryError
from ..unit_of_work import UnitOfWorkFactory, unit_of_work_factory
from .channels import build_channels, check_email_setup
from .config import AlertConfig
from .digest import Digest, render_digest
from .outbox import DeliveryReport, deliver_outbox
from .repositories import STATE_TABLE, USAGE_TABLE, AlertStateRepository, OutboxRepository
from .rules import (
    AlertItem,
    Decision,
    StoredState,
    decide_changes,
    expiry_items,
    low_stock_items,
    shortage_items,
)

if TYPE_CHECKING:  # the composition root builds on this module, not the other way
    from ..bootstrap import App

log = logging.getLogger(__name__)


@dataclass
class ScanResult:
    """What one scan found, notified and delivered."""

    dry_run: bool
    scanned_at: datetime
    current: int = 0
    notified: list[AlertItem] = field(default_factory=list)
    new: int = 0
    reminders: int = 0
    resolved: int = 0
    digest: Digest | None = None
    outbox_keys: list[str] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    shortage_rule: bool = True

    @property
    def digest_text(self) -> str | None:
        return self.digest.text if self.digest else None

    def as_dict(self) -> dict[str, object]:
        return {
            "dry_run": self.dry_run,
            "scanned_at": self.scanned_at.isoformat(timespec="seconds"),
            "current_items": self.current,
            "notified": len(self.notified),
            "new": self.new,
            "reminders": self.reminders,
            "resolved": self.resolved,
            "shortage_rule": self.shortage_rule,
            "digest": self.digest.payload if self.digest else None,
            "digest_text": self.digest_text,
            "outbox_keys": self.outbox_keys,
            "delivery": self.delivery.as_dict(),
        }


def collect_decision(
    repo: AlertStateRepository, config: AlertConfig, now: datetime, *, has_usage: bool
) -> tuple[Decision, bool]:
    """Run each rule's single query, already diffed against the alert state in
    SQL, plus one query for the states to resolve and one count: only changed
    items reach Python. The shortage rule runs only when the consumption
    engine's usage table exists (``has_usage``, checked once per scan)."""
    today = now.date()
    horizon_end = today + timedelta(days=config.expiry_horizon_days)
    reminder = timedelta(hours=config.reminder_hours)
    due = now - reminder
    candidates: list[tuple[AlertItem, StoredState | None]] = []
    for level, state in repo.stock_levels_to_notify(today, due):
        candidates.extend((item, state) for item in low_stock_items([level]))
    for lot, state in repo.lots_to_notify(today, horizon_end, due):
        items = expiry_items([lot], today=today, horizon_days=config.expiry_horizon_days)
        candidates.extend((item, state) for item in items)
    if has_usage:
        for row, state in repo.shortages_to_notify(due):
            candidates.extend((item, state) for item in shortage_items([row]))
    decision = decide_changes(
        candidates,
        repo.states_to_resolve(today, horizon_end, shortage_rule=has_usage),
        now=now,
        reminder=reminder,
        quiet_recent=repo.count_open_notified_after(due),
    )
    return decision, has_usage


def scan(
    uow_factory: UnitOfWorkFactory | Engine,
    config: AlertConfig,
    env: Environment,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ScanResult:
    """One scan, without delivery. A dry run computes the digest and writes nothing."""
    at = (now or datetime.now()).replace(microsecond=0)
    result = ScanResult(dry_run=dry_run, scanned_at=at)
    with unit_of_work_factory(uow_factory)() as uow:
        repo = uow.get(AlertStateRepository)
        if not table_exists(uow.connection, STATE_TABLE):
            raise AestheticInventoryError(
                "the alert tables are missing: run 'aesthetic-inventory migrate' first"
            )
        if not repo.acquire_scan_lock():
            raise AestheticInventoryError("another alert scan is running; try again later")
        try:
            has_usage = table_exists(uow.connection, USAGE_TABLE)
            decision, result.shortage_rule = collect_decision(
                repo, config, at, has_usage=has_usage
            )
            result.current = decision.current
            result.notified = list(decision.notify)
            result.new = len(decision.new_keys)
            result.reminders = len(decision.reminder_keys)
            result.resolved = len(decision.resolved_keys)
            if decision.notify:
                result.digest = render_digest(
                    env,
                    decision.notify,
                    generated_at=at,
                    max_per_kind=config.digest_max_items_per_kind,
                )
            if dry_run:
                return result
            notified_keys = set(decision.new_keys | decision.reminder_keys)
            # Only notified items change state rows; quiet ones need no write, so a
            # scan with nothing new writes nothing.
            repo.upsert_states(decision.notify, notified_keys, at)
            repo.resolve_states(decision.resolved_keys, at)
            if decision.notify:
                repo.touch_last_notify(at)
            if result.digest is not None:
                scan_id = uuid.uuid4().hex
                rows = []
                for channel in config.channels:
                    key = f"ai-{scan_id}-{channel}"
                    rows.append(
                        {
                            "channel": channel,
                            "key": key,
                            "subject": result.digest.subject,
                            "text": result.digest.text,
                            "html": result.digest.html,
                            "payload": _payload_with_key(result.digest, key, channel),
                            "now": at,
                        }
                    )
                    result.outbox_keys.append(key)
                uow.get(OutboxRepository).add_outbox_rows(rows)
            uow.commit()  # alert state and outbox together, or neither
        finally:
            repo.release_scan_lock()
    return result


def _payload_with_key(digest: Digest, key: str, channel: str) -> str:
    """The outbox payload plus its idempotency key: every item for the webhook
    (its body), only the counts for channels that send the text."""
    payload = dict(digest.payload if channel == "webhook" else digest.summary())
    payload["idempotency_key"] = key
    return json.dumps(payload, sort_keys=True)


def check_alert_setup(app: App) -> AlertConfig:
    """Validate the alert settings and what the channels read from OpenEMR (the
    e-mail channel's host, port and TLS mode), before any work: a problem is a
    one-line :class:`~aesthetic_inventory.errors.ConfigurationError` at start."""
    config = app.alert_config
    if "email" in config.channels:
        with app.unit_of_work() as uow:
            check_email_setup(uow.connection, config)
    return config


def run_alert_scan(
    app: App, *, dry_run: bool = False, now: datetime | None = None, deliver: bool = True
) -> ScanResult:
    """One scan, outbox and delivery (the ``alerts run`` command and the service job),
    with the composition root's parsed config, templates and SMTP factory."""
    config = app.alert_config
    result = scan(
        app.unit_of_work, config, app.template_environment, dry_run=dry_run, now=now
    )
    if not dry_run and deliver:
        channels = build_channels(config, app.smtp_factory)
        result.delivery = deliver_outbox(app.unit_of_work, config, channels, now=now)
    log.info(
        "alert scan%s: %d current, %d notified (%d new, %d reminders), %d resolved, "
        "%d delivered, %d failed",
        " (dry run)" if dry_run else "",
        result.current,
        len(result.notified),
        result.new,
        result.reminders,
        result.resolved,
        len(result.delivery.delivered),
        len(result.delivery.failed),
    )
    return result


def deliver_pending(app: App, *, now: datetime | None = None) -> DeliveryReport:
    """Deliver due outbox rows only (the service's outbox job)."""
    config = app.alert_config
    channels = build_channels(config, app.smtp_factory)
    return deliver_outbox(app.unit_of_work, config, channels, now=now)
