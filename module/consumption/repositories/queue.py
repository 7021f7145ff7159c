"""The SQL of the change queue the billing triggers fill (one row per changed visit, with
its set-aside state) and of the stock queue the stock-arrival trigger fills."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection


class QueueRepository:
    """SQL of the change queue fed by the billing triggers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def pending_visits(self, limit: int) -> list[tuple[int, int]]:
        """Distinct queued visits that are due, oldest first."""
        return [(pid, enc) for pid, enc, _ in self.pending(limit)[0]]

    def pending(
        self, limit: int, after: int = 0
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
        """In ONE plain read (cheap when both queues are empty): the due visits of the
        change queue, oldest first, as (pid, encounter, first queue id) with first id
        above ``after`` (a drain-all pages on it), and the products of the stock queue
        as (drug_id, highest queue id). A set-aside visit is due again at its
        ``next_try_at``, or at once when a new change queues it again."""
        rows = self.conn.execute(
            text(
                "(SELECT 0, pid, encounter, MIN(id) AS first "
                "FROM aesthetic_inventory_change_queue "
                "WHERE next_try_at IS NULL OR next_try_at <= NOW(6) "
                "GROUP BY pid, encounter HAVING MIN(id) > :after ORDER BY first LIMIT :n) "
                "UNION ALL (SELECT 1, drug_id, 0, MAX(id) FROM aesthetic_inventory_stock_queue "
                "GROUP BY drug_id ORDER BY MIN(id) LIMIT :n)"
            ),
            {"n": limit, "after": after},
        ).all()
        visits = [(int(r[1]), int(r[2]), int(r[3])) for r in rows if r[0] == 0]
        products = [(int(r[1]), int(r[3])) for r in rows if r[0] == 1]
        return visits, products

    def set_aside(
        self, pid: int, encounter: int, error: str, delay: Callable[[int], float]
    ) -> tuple[int, float]:
        """Record a failed reconcile of the visit on its queue rows (a new row when it
        has none, as after a failed sweep): attempts + 1, the error, and the next try
        ``delay(attempts)`` seconds from now. Returns (attempts, delay)."""
        rows = self.conn.execute(
            text(
                "SELECT id, attempts FROM aesthetic_inventory_change_queue "
                "WHERE pid = :p AND encounter = :e ORDER BY id FOR UPDATE SKIP LOCKED"
            ),
            {"p": pid, "e": encounter},
        ).all()
        attempts = 1 + max((int(r[1]) for r in rows), default=0)
        seconds = delay(attempts)
        params = {"p": pid, "e": encounter, "a": attempts, "err": error[:255],
                  "us": int(seconds * 1_000_000)}
        if rows:
            self.conn.execute(
                text(
                    "UPDATE aesthetic_inventory_change_queue SET attempts = :a, "
                    "last_error = :err, next_try_at = NOW(6) + INTERVAL :us MICROSECOND "
                    "WHERE id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {**params, "ids": [int(r[0]) for r in rows]},
            )
        else:
            self.conn.execute(
                text(
                    "INSERT INTO aesthetic_inventory_change_queue (pid, encounter, queued_at, "
                    "attempts, last_error, next_try_at) VALUES (:p, :e, NOW(6), :a, :err, "
                    "NOW(6) + INTERVAL :us MICROSECOND)"
                ),
                params,
            )
        return attempts, seconds

    def waiting_visits(self) -> set[tuple[int, int]]:
        """Set-aside visits that are not due yet (the sweep leaves them to the queue's
        backoff instead of failing them again)."""
        rows = self.conn.execute(
            text(
                "SELECT DISTINCT pid, encounter FROM aesthetic_inventory_change_queue "
                "WHERE next_try_at > NOW(6)"
            )
        )
        return {(int(r[0]), int(r[1])) for r in rows}

    def due_count(self) -> int:
        """Visits of the change queue that are due now (for a progress bar)."""
        return int(
            self.conn.execute(
                text(
                    "SELECT COUNT(DISTINCT pid, encounter) FROM aesthetic_inventory_change_queue "
                    "WHERE next_try_at IS NULL OR next_try_at <= NOW(6)"
                )
            ).scalar()
            or 0
        )

    def short_visits(self, drug_id: int) -> list[tuple[int, int]]:
        """Visits with an open shortage of the product, oldest visit first."""
        rows = self.conn.execute(
            text(
                "SELECT u.pid, u.encounter FROM aesthetic_inventory_usage u "
                "LEFT JOIN form_encounter fe ON fe.pid = u.pid AND fe.encounter = u.encounter "
                "WHERE u.drug_id = :d AND u.shortage_units > 0 "
                "GROUP BY u.pid, u.encounter ORDER BY MIN(fe.date), MIN(u.id)"
            ),
            {"d": drug_id},
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    def delete_stock_rows(self, drug_id: int, up_to: int) -> None:
        """Forget the product's stock-queue rows read so far (later arrivals stay)."""
        self.conn.execute(
            text("DELETE FROM aesthetic_inventory_stock_queue WHERE drug_id = :d AND id <= :m"),
            {"d": drug_id, "m": up_to},
        )

    def claim(self, pid: int, encounter: int) -> list[int]:
        """Lock this visit's queue rows; rows another worker holds are skipped."""
        rows = self.conn.execute(
            text(
                "SELECT id FROM aesthetic_inventory_change_queue "
                "WHERE pid = :pid AND encounter = :enc ORDER BY id FOR UPDATE SKIP LOCKED"
            ),
            {"pid": pid, "enc": encounter},
        )
        return [int(r[0]) for r in rows]

    def delete(self, ids: Sequence[int]) -> None:
        if ids:
            self.conn.execute(
                text("DELETE FROM aesthetic_inventory_change_queue WHERE id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"ids": list(ids)},
            )
