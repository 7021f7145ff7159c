"""Outbox delivery: claim a due row with ``FOR UPDATE SKIP LOCKED``, deliver it,
and mark it delivered in the same transaction; on failure count the attempt and
push ``next_attempt_at`` back exponentially. Rows are never dropped: a channel
that is down keeps its rows until it recovers.

Each channel is delivered by its own worker thread, on its own connections, so a
slow or dead SMTP server (bounded by its timeout) never delays the CRM row: one
channel's failure never holds up another. Any exception while delivering one row
(a malformed header, an encoding error, a broken HTTP answer...) fails that row
only; the worker records it and moves on to the channel's next row. A channel that
is unavailable (:class:`ChannelUnavailableError`) is not tried again in this pass.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from ..errors import ChannelUnavailableError
from ..unit_of_work import UnitOfWorkFactory, unit_of_work_factory
from .channels import Channel
from .config import AlertConfig
from .repositories import OutboxRepository
from .rules import backoff_seconds

log = logging.getLogger(__name__)


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
    uow_factory: UnitOfWorkFactory | Engine,
    config: AlertConfig,
    name: str,
    channel: Channel,
    *,
    now: datetime | None = None,
    max_rows: int = 100,
) -> DeliveryReport:
    """Deliver the due pending rows of one channel, oldest first (bounded per pass)."""
    report = DeliveryReport()
    new_uow = unit_of_work_factory(uow_factory)
    tried: list[int] = []  # rows failed in this pass (a zero backoff makes them due again)
    for _ in range(max_rows):
        at = now or datetime.now().replace(microsecond=0)
        with new_uow() as uow:  # one unit of work per row, in this thread
            repo = uow.get(OutboxRepository)
            row = repo.claim_due(at, [name], exclude_ids=tried)
            if row is None:
                break
            try:
                note = channel.deliver(uow.connection, row, at)
            except Exception as exc:  # noqa: BLE001 - any failure is this row's failure
                error = _error_line(exc)
                # Drop anything the channel half-wrote (CRM/message rows), then record
                # the failure on the row, locked again in a fresh transaction.
                uow.rollback()
                locked = repo.lock_pending(row.id)
                attempts = (locked or row).attempts + 1
                delay = backoff_seconds(
                    attempts,
                    base=config.outbox_backoff_seconds,
                    cap=config.outbox_max_backoff_seconds,
                )
                if locked is not None:
                    repo.mark_failed(row.id, error, at + timedelta(seconds=delay))
                    uow.commit()
                tried.append(row.id)
                report.failed.append((row.id, name, error))
                log.warning(
                    "outbox %s via %s failed (attempt %s, retry in %ss): %s",
                    row.id,
                    name,
                    attempts,
                    delay,
                    error,
                )
                if isinstance(exc, ChannelUnavailableError):
                    break  # the others would fail the same way: next pass
                continue
            repo.mark_delivered(row.id, at)
            uow.commit()
            report.delivered.append((row.id, name, note))
            log.info("outbox %s delivered via %s: %s", row.id, name, note)
    return report


def deliver_outbox(
    uow_factory: UnitOfWorkFactory | Engine,
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
