"""The SQL of the outbox: pending deliveries, claimed one at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

OUTBOX_TABLE = "aesthetic_inventory_outbox"


@dataclass(frozen=True)
class OutboxRow:
    """One pending delivery, as claimed from the outbox."""

    id: int
    channel: str
    idempotency_key: str
    subject: str
    body_text: str
    body_html: str
    payload_json: str
    attempts: int


class OutboxRepository:
    """Outbox rows on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def add_outbox_rows(self, rows: Sequence[dict[str, object]]) -> None:
        """One pending row per channel (one multi-row insert: placeholders only)."""
        if not rows:
            return
        self.conn.execute(
            text(
                f"INSERT INTO {OUTBOX_TABLE} (channel, idempotency_key, subject, body_text, "
                "body_html, payload_json, status, attempts, next_attempt_at, last_error, "
                "created_at) VALUES (:channel, :key, :subject, :text, :html, :payload, "
                ":status, :attempts, :now, :error, :now)"
            ),
            [dict(row) | {"status": "pending", "attempts": 0, "error": ""} for row in rows],
        )

    _COLUMNS = (
        "id, channel, idempotency_key, subject, body_text, body_html, payload_json, attempts"
    )

    def claim_due(
        self,
        now: datetime,
        channels: Sequence[str],
        skip: Sequence[str] = (),
        *,
        exclude_ids: Sequence[int] = (),
    ) -> OutboxRow | None:
        """Lock the oldest due pending row of the given channels (except the rows
        in ``exclude_ids``); concurrent workers skip rows another worker holds."""
        wanted = [c for c in channels if c not in skip]
        if not wanted:
            return None
        params: dict[str, object] = {"now": now, "channels": wanted}
        excluded = ""
        if exclude_ids:
            excluded = " AND id NOT IN :excluded"
            params["excluded"] = list(exclude_ids)
        statement = text(
            f"SELECT {self._COLUMNS} FROM {OUTBOX_TABLE} "
            "WHERE status = 'pending' AND next_attempt_at <= :now AND channel IN :channels"
            f"{excluded} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ).bindparams(bindparam("channels", expanding=True))
        if exclude_ids:
            statement = statement.bindparams(bindparam("excluded", expanding=True))
        row = self.conn.execute(statement, params).first()
        return OutboxRow(*row) if row is not None else None

    def lock_pending(self, row_id: int) -> OutboxRow | None:
        """Lock one pending row again (after a rollback), or ``None`` if it is gone
        or no longer pending."""
        row = self.conn.execute(
            text(
                f"SELECT {self._COLUMNS} FROM {OUTBOX_TABLE} "
                "WHERE id = :id AND status = 'pending' FOR UPDATE"
            ),
            {"id": row_id},
        ).first()
        return OutboxRow(*row) if row is not None else None

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        """The row went out: delivered now, one more attempt counted."""
        self.conn.execute(
            text(
                f"UPDATE {OUTBOX_TABLE} SET status = 'delivered', delivered_at = :now, "
                "attempts = attempts + 1, last_error = '' WHERE id = :id"
            ),
            {"now": now, "id": row_id},
        )

    def mark_failed(self, row_id: int, error: str, next_attempt_at: datetime) -> None:
        """Count a failed attempt and schedule the next one (the row is kept)."""
        self.conn.execute(
            text(
                f"UPDATE {OUTBOX_TABLE} SET attempts = attempts + 1, "
                "next_attempt_at = :next, last_error = :error WHERE id = :id"
            ),
            {"next": next_attempt_at, "error": error[:500], "id": row_id},
        )
