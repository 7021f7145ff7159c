"""Outbox delivery: claim a due row with ``FOR UPDATE SKIP LOCKED``, deliver it,
and mark it delivered in the same transaction; on failure count the attempt and
push ``next_attempt_at`` back exponentially. Rows are never dropped: a channel
that is down keeps its rows until it recovers."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from ..errors import AestheticInventoryError
from ..unit_of_work import UnitOfWorkFactory, unit_of_work_factory
from .channels import Channel
from .config import AlertConfig
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


def deliver_outbox(
    uow_factory: UnitOfWorkFactory | Engine,
    config: AlertConfig,
    channels: Mapping[str, Channel],
    *,
    now: datetime | None = None,
    max_rows: int = 100,
) -> DeliveryReport:
    """Deliver every due pending row of the configured channels (bounded per pass).

    A channel that fails is skipped for the rest of the pass, so one dead SMTP
    server does not delay the CRM row behind it.
    """
    report = DeliveryReport()
    failed_channels: list[str] = []
    names = list(channels)
    new_uow = unit_of_work_factory(uow_factory)
    for _ in range(max_rows):
        at = now or datetime.now().replace(microsecond=0)
        with new_uow() as uow:
            repo = uow.outbox
            row = repo.claim_due(at, names, skip=failed_channels)
            if row is None:
                break
            channel = channels[row.channel]
            try:
                note = channel.deliver(uow.connection, row, at)
            except (AestheticInventoryError, DBAPIError) as exc:
                error = str(exc).splitlines()[0][:400] if str(exc) else type(exc).__name__
                if isinstance(exc, DBAPIError):
                    uow.rollback()  # drop any half-written channel row, then record
                    row = repo.claim_due(at, [row.channel]) or row
                delay = backoff_seconds(
                    row.attempts + 1,
                    base=config.outbox_backoff_seconds,
                    cap=config.outbox_max_backoff_seconds,
                )
                repo.mark_failed(row.id, error, at + timedelta(seconds=delay))
                uow.commit()
                failed_channels.append(row.channel)
                report.failed.append((row.id, row.channel, error))
                log.warning(
                    "outbox %s via %s failed (attempt %s, retry in %ss): %s",
                    row.id,
                    row.channel,
                    row.attempts + 1,
                    delay,
                    error,
                )
                continue
            repo.mark_delivered(row.id, at)
            uow.commit()
            report.delivered.append((row.id, row.channel, note))
            log.info("outbox %s delivered via %s: %s", row.id, row.channel, note)
    return report
