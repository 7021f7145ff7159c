"""Alert scan: evaluate the rules, decide what is new, write the alert state and
the outbox in one transaction, then deliver the outbox."""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from jinja2 import Environment

from ..db import existing_tables, retry_on_lock_conflict, root_cause
from ..errors import AestheticInventoryError
from ..unit_of_work import UnitOfWork, UnitOfWorkFactory
from .background import process_owner
from .channels import SmtpFactory, build_channels, check_email_setup
from .config import AlertConfig
from .digest import Digest, render_digest
from .outbox import DeliveryReport, deliver_outbox
from .repositories import (
    SCAN_LOCK,
    STATE_TABLE,
    USAGE_TABLE,
    AlertStateRepository,
    OutboxRepository,
)
from .repositories.changes import WATERMARK_TABLE, AlertChangeRepository, ChangeRows
from .repositories.scoped import LotScope, ResolveScope
from .repositories.state import CONTAINER_TABLE
from .rules import (
    AlertItem,
    Decision,
    StoredState,
    container_items,
    decide_changes,
    expiry_items,
    low_stock_items,
    shortage_items,
)
from .scope import (
    IncrementalScope,
    Watermark,
    full_scan_reason,
    incremental_scope,
    scan_params,
)
from .triggers import CHANGE_TABLE


class AlertRuntime(Protocol):
    """What a scan needs from the composition root (``bootstrap.App`` is one): the
    alerts package depends on this shape, never on ``bootstrap``, which builds on
    the alerts package (no import cycle)."""

    @property
    def alert_config(self) -> AlertConfig: ...

    @property
    def template_environment(self) -> Environment: ...

    @property
    def smtp_factory(self) -> SmtpFactory: ...

    def unit_of_work(self) -> UnitOfWork: ...

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
    mode: str = "full"  # "incremental", or "full (<why>)"

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
            "scan_mode": self.mode,
            "digest": self.digest.payload if self.digest else None,
            "digest_text": self.digest_text,
            "outbox_keys": self.outbox_keys,
            "delivery": self.delivery.as_dict(),
        }


@dataclass(frozen=True)
class ScanDecision:
    """A decision plus what the scan read: which notified items had a state row
    (the compare-and-set writes them differently) and the reminder cut-off."""

    decision: Decision
    shortage_rule: bool
    had_state: frozenset[tuple[str, str]]
    due: datetime


def collect_decision(
    repo: AlertStateRepository, config: AlertConfig, now: datetime, *, has_usage: bool,
    has_containers: bool = False, scope: IncrementalScope | None = None,
) -> ScanDecision:
    """Run each rule's single query, already diffed against the alert state in
    SQL, plus one query for the states to resolve and one count: only changed
    items reach Python. The shortage rule runs only when the consumption
    engine's usage table exists (``has_usage``, checked once per scan). With a
    ``scope`` (the incremental scan) the stock and lot rules read only its
    products and lots; the decision is the one a full scan makes."""
    today = now.date()
    horizon_end = today + timedelta(days=config.expiry_horizon_days)
    reminder = timedelta(hours=config.reminder_hours)
    due = now - reminder
    candidates: list[tuple[AlertItem, StoredState | None]] = []
    stock_ids = None if scope is None else scope.stock_drug_ids
    for level, state in repo.stock_levels_to_notify(today, due, drug_ids=stock_ids):
        candidates.extend((item, state) for item in low_stock_items([level]))
    seen: set[int] = set()  # an incremental scan may meet a lot in two of its scopes
    for lot_scope in _lot_scopes(scope):
        for lot, state in repo.lots_to_notify(today, horizon_end, due, scope=lot_scope):
            if lot_scope is not None:
                if lot.inventory_id in seen:
                    continue
                seen.add(lot.inventory_id)
            items = expiry_items([lot], today=today, horizon_days=config.expiry_horizon_days)
            candidates.extend((item, state) for item in items)
    if has_usage:
        for row, state in repo.shortages_to_notify(due):
            candidates.extend((item, state) for item in shortage_items([row]))
    container_end = None
    if has_containers:  # open vials reaching beyond use with units left (containers)
        container_end = now + timedelta(hours=config.container_alert_hours)
        for box, state in repo.containers_to_notify(container_end, due):
            candidates.extend((item, state) for item in container_items([box], now=now))
    resolve_scope = None if scope is None else ResolveScope(
        scope.stock_drug_ids, scope.lot_drug_ids, scope.lot_ids, scope.crossed)
    decision = decide_changes(
        candidates,
        repo.states_to_resolve(today, horizon_end, shortage_rule=has_usage,
                               container_end=container_end, scope=resolve_scope),
        now=now,
        reminder=reminder,
        quiet_recent=repo.count_open_notified_after(due),
    )
    had_state = frozenset(item.state_key for item, state in candidates if state is not None)
    return ScanDecision(decision, has_usage, had_state, due)


def _lot_scopes(scope: IncrementalScope | None) -> list[LotScope | None]:
    """The lot reads of a scan: every lot (full), or the scope's products, lots and
    the lots entering the horizon (incremental)."""
    if scope is None:
        return [None]
    scopes: list[LotScope | None] = [LotScope(drug_ids=scope.lot_drug_ids),
                                     LotScope(inventory_ids=scope.lot_ids)]
    scopes.extend(LotScope(expiring_between=between)
                  for between in (scope.crossed, scope.entering) if between is not None)
    return scopes


@dataclass(frozen=True)
class ScanPlan:
    """Full or incremental, what the scan read to decide, and what it records."""

    scope: IncrementalScope | None
    reason: str | None  # why the scan is full (None: incremental)
    change_ids: tuple[int, ...] = ()
    watermark: Watermark | None = None  # to record (None: no watermark table)
    previous: Watermark | None = None

    @property
    def mode(self) -> str:
        return "incremental" if self.reason is None else f"full ({self.reason})"

    @property
    def writes(self) -> bool:
        """Whether recording the plan changes anything (consumed changes, a new mark)."""
        return bool(self.change_ids) or (
            self.watermark is not None and self.watermark != self.previous)


def plan_scan(
    uow: UnitOfWork, config: AlertConfig, at: datetime, *, full: bool, tables: set[str]
) -> ScanPlan:
    """Decide full or incremental and gather the incremental scope (``tables``: the
    scan's tables that exist). The change rows are read before any rule query (a
    change committed in between is seen by this scan and again by the next one,
    never by neither)."""
    if WATERMARK_TABLE not in tables:
        return ScanPlan(None, "incremental scan tables missing")
    changes = uow.get(AlertChangeRepository)
    previous = changes.watermark(SCAN_LOCK)
    tracked = CHANGE_TABLE in tables and changes.triggers_installed()
    rows = changes.read_changes() if CHANGE_TABLE in tables else ChangeRows((), frozenset())
    params = scan_params(config.expiry_horizon_days, tracked=tracked)
    today = at.date()
    horizon_end = today + timedelta(days=config.expiry_horizon_days)
    reason = full_scan_reason(previous, now=at, params=params, tracked=tracked, forced=full)
    if reason is not None or previous is None:
        mark = Watermark(today, horizon_end, params, at)
        return ScanPlan(None, reason or "first scan", rows.ids, mark, previous)
    scope = incremental_scope(
        previous,
        today=today,
        horizon_end=horizon_end,
        # OpenEMR's Destroy Lot screen writes no movement: its lots by destroy date
        changed_drug_ids=rows.drug_ids | changes.products_destroyed_since(
            previous.scanned_today),
        crossed_drug_ids=changes.products_expiring_between(previous.scanned_today, today),
        reminder_keys=changes.reminder_keys(at - timedelta(hours=config.reminder_hours)),
    )
    mark = Watermark(today, horizon_end, params, previous.full_at)
    return ScanPlan(scope, None, rows.ids, mark, previous)


def scan(
    uow_factory: UnitOfWorkFactory,
    config: AlertConfig,
    env: Environment,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    full: bool = False,
) -> ScanResult:
    """One scan, without delivery. A dry run computes the digest and writes nothing.
    Incremental when it can be (see :mod:`aesthetic_inventory.alerts.scope`); ``full``
    evaluates every product and lot.

    Cluster-safe: the scan locks its row in ``aesthetic_inventory_locks`` (a row
    lock that ends with the transaction), every state change is a compare-and-set
    against what it read, and the outbox rows go in the same transaction. A scan
    that lost a conflict (a deadlock, a lock wait, a Galera or Group Replication
    certification failure, or stale state) wrote nothing and queued nothing; it
    is run again on fresh data, a bounded number of times."""
    at = (now or datetime.now()).replace(microsecond=0)
    new_uow = uow_factory
    return retry_on_lock_conflict(
        lambda: _scan_once(new_uow, config, env, dry_run=dry_run, at=at, full=full),
        on_retry=lambda attempt, exc: log.info(
            "alert scan: lost a conflict with another writer (attempt %d): %s; running again",
            attempt,
            type(root_cause(exc)).__name__,
        ),
    )


def _scan_once(
    new_uow: UnitOfWorkFactory, config: AlertConfig, env: Environment, *, dry_run: bool,
    at: datetime, full: bool = False,
) -> ScanResult:
    """One attempt of :func:`scan`, in one transaction."""
    result = ScanResult(dry_run=dry_run, scanned_at=at)
    with new_uow() as uow:
        repo = uow.get(AlertStateRepository)
        tables = existing_tables(uow.connection, [STATE_TABLE, USAGE_TABLE, CONTAINER_TABLE,
                                                  CHANGE_TABLE, WATERMARK_TABLE])
        if STATE_TABLE not in tables:
            raise AestheticInventoryError(
                "the alert tables are missing: run 'aesthetic-inventory migrate' first"
            )
        if not dry_run:
            repo.lock_scan()
        has_usage = USAGE_TABLE in tables
        plan = plan_scan(uow, config, at, full=full, tables=tables)
        result.mode = plan.mode
        read = collect_decision(repo, config, at, has_usage=has_usage,
                                has_containers=CONTAINER_TABLE in tables, scope=plan.scope)
        decision = read.decision
        result.shortage_rule = read.shortage_rule
        result.current = decision.current
        result.notified = list(decision.notify)
        result.new = len(decision.new_keys)
        result.reminders = len(decision.reminder_keys)
        result.resolved = len(decision.resolved_keys)
        if decision.notify:
            result.digest = render_digest(
                env, decision.notify, generated_at=at, max_per_kind=config.digest_max_items_per_kind
            )
        if dry_run or not (decision.notify or decision.resolved_keys or plan.writes):
            return result  # a scan with nothing new writes nothing
        repo.stamp_scan(process_owner(), at)
        if plan.watermark is not None:  # what this scan covered, in its transaction
            changes = uow.get(AlertChangeRepository)
            changes.delete_changes(plan.change_ids)
            changes.save_watermark(SCAN_LOCK, plan.watermark, at)
        repo.notify_states(
            [i for i in decision.notify if i.state_key not in read.had_state],
            [i for i in decision.notify if i.state_key in read.had_state],
            at,
            read.due,
        )
        repo.resolve_states(decision.resolved_keys, at)
        if decision.notify:
            repo.touch_last_notify(at)
        if result.digest is not None:
            result.outbox_keys = _queue_digest(uow, config, result.digest, at)
        uow.commit()  # alert state and outbox together, or neither
    return result


def _queue_digest(uow: UnitOfWork, config: AlertConfig, digest: Digest, at: datetime) -> list[str]:
    """One outbox row per channel for the digest; returns their idempotency keys."""
    scan_id = uuid.uuid4().hex
    rows = []
    for channel in config.channels:
        key = f"ai-{scan_id}-{channel}"
        rows.append(
            {
                "channel": channel,
                "key": key,
                "subject": digest.subject,
                "text": digest.text,
                "html": digest.html,
                "payload": _payload_with_key(digest, key, channel),
                "now": at,
            }
        )
    uow.get(OutboxRepository).add_outbox_rows(rows)
    return [str(row["key"]) for row in rows]


def _payload_with_key(digest: Digest, key: str, channel: str) -> str:
    """The outbox payload plus its idempotency key: every item for the webhook
    (its body), only the counts for channels that send the text."""
    payload = dict(digest.payload if channel == "webhook" else digest.summary())
    payload["idempotency_key"] = key
    return json.dumps(payload, sort_keys=True)


def check_alert_setup(app: AlertRuntime) -> AlertConfig:
    """Validate the alert settings and what the channels read from OpenEMR (the
    e-mail channel's host, port and TLS mode), before any work: a problem is a
    one-line :class:`~aesthetic_inventory.errors.ConfigurationError` at start."""
    config = app.alert_config
    if "email" in config.channels:
        with app.unit_of_work() as uow:
            check_email_setup(uow.connection, config)
    return config


def run_alert_scan(
    app: AlertRuntime, *, dry_run: bool = False, now: datetime | None = None,
    deliver: bool = True, full: bool = False,
) -> ScanResult:
    """One scan, outbox and delivery (the ``alerts run`` command and the service job),
    with the composition root's parsed config, templates and SMTP factory."""
    config = app.alert_config
    result = scan(
        app.unit_of_work, config, app.template_environment, dry_run=dry_run, now=now,
        full=full,
    )
    if not dry_run and deliver:
        channels = build_channels(config, app.smtp_factory)
        result.delivery = deliver_outbox(app.unit_of_work, config, channels, now=now)
    log.info(
        "alert scan%s, %s: %d current, %d notified (%d new, %d reminders), %d resolved, "
        "%d delivered, %d failed",
        " (dry run)" if dry_run else "",
        result.mode,
        result.current,
        len(result.notified),
        result.new,
        result.reminders,
        result.resolved,
        len(result.delivery.delivered),
        len(result.delivery.failed),
    )
    return result


def deliver_pending(app: AlertRuntime, *, now: datetime | None = None) -> DeliveryReport:
    """Deliver due outbox rows only (the service's outbox job)."""
    config = app.alert_config
    channels = build_channels(config, app.smtp_factory)
    return deliver_outbox(app.unit_of_work, config, channels, now=now)
