"""The SQL of the change queue the billing triggers fill (one row per changed visit)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection


class QueueRepository:
    """SQL of the change queue fed by the billing triggers."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def pending_visits(self, limit: int) -> list[tuple[int, int]]:
        """Distinct queued visits, oldest first (a plain read: cheap when empty)."""
        rows = self.conn.execute(
            text(
                "SELECT pid, encounter FROM aesthetic_inventory_change_queue "
                "GROUP BY pid, encounter ORDER BY MIN(id) LIMIT :n"
            ),
            {"n": limit},
        )
        return [(int(r[0]), int(r[1])) for r in rows]

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
