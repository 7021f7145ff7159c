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
        owner: str,
        lease_until: datetime,
        *,
        exclude_ids: Sequence[int] = (),
    ) -> OutboxRow | None:
        """Claim the oldest due pending row of the given channels that nobody
        holds (or whose holder's lease ran out), except ``exclude_ids``: the row
        gets ``owner`` and a lease. The caller commits the claim before sending:
        a row lock alone is local to one cluster node, a committed claim is not
        (two nodes claiming the same row conflict at commit)."""
        if not channels:
            return None
        params: dict[str, object] = {"now": now, "channels": list(channels)}
        excluded = ""
        if exclude_ids:
            excluded = " AND id NOT IN :excluded"
            params["excluded"] = list(exclude_ids)
        statement = text(
            f"SELECT id FROM {OUTBOX_TABLE} "
            "WHERE status = 'pending' AND next_attempt_at <= :now AND channel IN :channels"
            f" AND {self._FREE}{excluded} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
        ).bindparams(bindparam("channels", expanding=True))
        if exclude_ids:
            statement = statement.bindparams(bindparam("excluded", expanding=True))
        found = self.conn.execute(statement, params).scalar()
        if found is None:
            return None
        claimed = self.conn.execute(
            text(
                f"UPDATE {OUTBOX_TABLE} SET claimed_by = :owner, claim_expires_at = :until "
                f"WHERE id = :id AND status = 'pending' AND {self._FREE}"
            ),
            {"owner": owner[:255], "until": lease_until, "id": found, "now": now},
        ).rowcount
        if claimed != 1:
            return None
        return self._row(int(found))

    # a row nobody is sending now: never claimed, released, or its lease ran out
    _FREE = "(claimed_by IS NULL OR claim_expires_at IS NULL OR claim_expires_at < :now)"

    def _row(self, row_id: int) -> OutboxRow | None:
        row = self.conn.execute(
            text(f"SELECT {self._COLUMNS} FROM {OUTBOX_TABLE} WHERE id = :id"), {"id": row_id}
        ).first()
        return OutboxRow(*row) if row is not None else None

    def lock_claimed(self, row_id: int, owner: str) -> OutboxRow | None:
        """Lock a pending row this owner still holds, or ``None`` if it is gone,
        no longer pending or taken over by another sender."""
        row = self.conn.execute(
            text(
                f"SELECT {self._COLUMNS} FROM {OUTBOX_TABLE} "
                "WHERE id = :id AND status = 'pending' AND claimed_by = :owner FOR UPDATE"
            ),
            {"id": row_id, "owner": owner[:255]},
        ).first()
        return OutboxRow(*row) if row is not None else None

    def mark_delivered(self, row_id: int, now: datetime, owner: str) -> bool:
        """Confirm: the row went out, delivered now, one more attempt counted, the
        claim released. False when this owner no longer held it."""
        return (
            self.conn.execute(
                text(
                    f"UPDATE {OUTBOX_TABLE} SET status = 'delivered', delivered_at = :now, "
                    "attempts = attempts + 1, last_error = '', claimed_by = NULL, "
                    "claim_expires_at = NULL WHERE id = :id AND claimed_by = :owner"
                ),
                {"now": now, "id": row_id, "owner": owner[:255]},
            ).rowcount
            == 1
        )

    def mark_failed(self, row_id: int, error: str, next_attempt_at: datetime) -> None:
        """Count a failed attempt, schedule the next one and release the claim (the
        row is kept)."""
        self.conn.execute(
            text(
                f"UPDATE {OUTBOX_TABLE} SET attempts = attempts + 1, "
                "next_attempt_at = :next, last_error = :error, claimed_by = NULL, "
                "claim_expires_at = NULL WHERE id = :id"
            ),
            {"next": next_attempt_at, "error": error[:500], "id": row_id},
        )
