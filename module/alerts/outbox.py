"""Outbox delivery: claim -> send -> confirm. A due row is claimed (owner and
lease, committed), then sent, then confirmed delivered; on failure the attempt is
counted, the claim released and ``next_attempt_at`` pushed back exponentially.
Rows are never dropped: a channel that is down keeps its rows until it recovers.
The committed claim is what keeps two services (on two cluster nodes) from sending
the same row; a sender that dies mid-send leaves a claim another takes over when
its lease ends, and the row's idempotency key (the e-mail ``Message-ID``, the
webhook's ``Idempotency-Key``) lets the receiver recognise the repeat. Channels
that write into OpenEMR's database (CRM, messages) write in the confirming
transaction, so they happen exactly once.

Each channel is delivered by its own worker thread, on its own connections, so a
slow or dead SMTP server (bounded by its timeout) never delays the CRM row: one
channel's failure never holds up another. Any exception while delivering one row
(a malformed header, an encoding error, a broken HTTP answer...) fails that row
only; the worker records it and moves on to the channel's next row. A channel that
is unavailable (:class:`ChannelUnavailableError`) is not tried again in this pass.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from ..db import retry_on_lock_conflict
from ..errors import ChannelUnavailableError
from ..unit_of_work import UnitOfWorkFactory
from .background import process_owner
from .channels import Channel
from .config import AlertConfig
from .repositories import OutboxRepository, OutboxRow
from .rules import backoff_seconds

log = logging.getLogger(__name__)

# How long a claim keeps other senders off a row: longer than any channel's send
# (SMTP and webhook timeouts are seconds), short enough that a crashed sender's
# rows go out again within minutes.
CLAIM_LEASE_SECONDS = 300
# Channels that deliver by writing rows in the database: delivered and confirmed in
# one transaction (which may simply be run again after a conflict).
DATABASE_CHANNELS = frozenset({"crm", "message"})


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    delivered: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, note)
    failed: list[tuple[int, str, str]] = field(default_factory=list)  # (id, channel, error)

    def as_dict(self) -> dict[str, object]:
        return {
            "delivered": [{"id": i, "channel": c, "note": n} for i, c, n in self.delivered],
            "failed": [{"id": i, "channel": c, "error": e} for i, c, e in self.failed],
        }

    def extend(self, other: DeliveryReport) -> None:
        self.delivered.extend(other.delivered)
        self.failed.extend(other.failed)


def _error_line(exc: BaseException) -> str:
    """One line for ``last_error`` and the log (the type when the text is empty)."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if not first:
        return type(exc).__name__
    if isinstance(exc, ChannelUnavailableError) or type(exc).__module__.startswith(
        "aesthetic_inventory"
    ):
        return first[:400]
    return f"{type(exc).__name__}: {first}"[:400]


def deliver_channel(
    uow_factory: UnitOfWorkFactory,
    config: AlertConfig,
    name: str,
    channel: Channel,
    *,
    now: datetime | None = None,
    max_rows: int = 100,
) -> DeliveryReport:
    """Deliver the due pending rows of one channel, oldest first (bounded per pass)."""
    report = DeliveryReport()
    new_uow = uow_factory
    owner = f"{process_owner()}:{uuid.uuid4().hex[:8]}"[:255]  # this pass, this thread
    tried: list[int] = []  # rows failed in this pass (a zero backoff makes them due again)
    for _ in range(max_rows):
        at = now or datetime.now().replace(microsecond=0)
        row = retry_on_lock_conflict(partial(_claim, new_uow, name, owner, at, tried))
        if row is None:
            break
        try:
            note = _send_and_confirm(new_uow, channel, row, owner, at)
        except Exception as exc:  # noqa: BLE001 - any failure is this row's failure
            error = _error_line(exc)
            attempts, delay = retry_on_lock_conflict(
                partial(_record_failure, new_uow, config, row, owner, error, at)
            )
            tried.append(row.id)
            report.failed.append((row.id, name, error))
            log.warning(
                "outbox %s via %s failed (attempt %s, retry in %ss): %s",
                row.id, name, attempts, delay, error,
            )
            if isinstance(exc, ChannelUnavailableError):
                break  # the others would fail the same way: next pass
            continue
        report.delivered.append((row.id, name, note))
        log.info("outbox %s delivered via %s: %s", row.id, name, note)
    return report


def _claim(
    new_uow: UnitOfWorkFactory, name: str, owner: str, at: datetime, tried: list[int]
) -> OutboxRow | None:
    """Claim the channel's next due row and commit the claim."""
    with new_uow() as uow:
        until = at + timedelta(seconds=CLAIM_LEASE_SECONDS)
        row = uow.get(OutboxRepository).claim_due(at, [name], owner, until, exclude_ids=tried)
        uow.commit()
        return row


def _send_and_confirm(
    new_uow: UnitOfWorkFactory, channel: Channel, row: OutboxRow, owner: str, at: datetime
) -> str:
    """Send a claimed row and confirm it. A database channel writes and confirms in
    one transaction (re-run whole after a conflict); an external one sends once,
    and only the confirmation is re-run."""

    def in_database() -> str:
        with new_uow() as uow:
            note = channel.deliver(uow.connection, row, at)
            if not uow.get(OutboxRepository).mark_delivered(row.id, at, owner):
                log.warning("outbox %s: the claim was taken over; not written twice", row.id)
                return "taken over by another sender"
            uow.commit()
            return note

    if row.channel in DATABASE_CHANNELS:
        return retry_on_lock_conflict(in_database)
    with new_uow() as uow:  # the channel only reads here (OpenEMR's mail settings)
        note = channel.deliver(uow.connection, row, at)

    def confirm() -> None:
        with new_uow() as uow:
            if not uow.get(OutboxRepository).mark_delivered(row.id, at, owner):
                log.warning("outbox %s: sent, but the claim had been taken over", row.id)
            uow.commit()

    retry_on_lock_conflict(confirm)
    return note


def _record_failure(
    new_uow: UnitOfWorkFactory,
    config: AlertConfig,
    row: OutboxRow,
    owner: str,
    error: str,
    at: datetime,
) -> tuple[int, int]:
    """Count the failed attempt, schedule the next and release the claim; returns
    (attempts, delay in seconds)."""
    with new_uow() as uow:
        locked = uow.get(OutboxRepository).lock_claimed(row.id, owner)
        attempts = (locked or row).attempts + 1
        delay = backoff_seconds(
            attempts, base=config.outbox_backoff_seconds, cap=config.outbox_max_backoff_seconds
        )
        if locked is not None:
            uow.get(OutboxRepository).mark_failed(row.id, error, at + timedelta(seconds=delay))
            uow.commit()
        return attempts, delay


def deliver_outbox(
    uow_factory: UnitOfWorkFactory,
    config: AlertConfig,
    channels: Mapping[str, Channel],
    *,
    now: datetime | None = None,
    max_rows: int = 100,
) -> DeliveryReport:
    """Deliver every due pending row of the configured channels (bounded per pass
    and channel), each channel in its own thread so none waits for another."""
    names = list(channels)
    report = DeliveryReport()
    if len(names) == 1:
        only = names[0]
        return deliver_channel(
            uow_factory, config, only, channels[only], now=now, max_rows=max_rows
        )
    with ThreadPoolExecutor(max_workers=max(len(names), 1), thread_name_prefix="outbox") as pool:
        futures = [
            pool.submit(
                deliver_channel,
                uow_factory,
                config,
                name,
                channels[name],
                now=now,
                max_rows=max_rows,
            )
            for name in names
        ]
        errors: list[BaseException] = []
        for future in futures:  # in channel order, after every worker finished
            try:
                report.extend(future.result())
            except Exception as exc:  # noqa: BLE001 - e.g. the database went away
                errors.append(exc)
    if errors:
        raise errors[0]
    return report
