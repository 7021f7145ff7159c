"""The SQL of the incremental alert scan: the change rows the alert triggers write,
the watermark of the last scan, and the index range reads of time passing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..scope import LOT_KINDS, STOCK_KINDS, Watermark
from ..triggers import CHANGE_TABLE, TRIGGER_NAMES
from .scoped import STATE_TABLE, sql_text

WATERMARK_TABLE = "aesthetic_inventory_alert_watermark"


@dataclass(frozen=True)
class ChangeRows:
    """The change rows a scan read: their ids (deleted when the scan commits) and the
    products they name."""

    ids: tuple[int, ...]
    drug_ids: frozenset[int]


class AlertChangeRepository:
    """Change rows, watermark and time-range reads, on one connection (inside the
    scan's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def triggers_installed(self) -> bool:
        """Whether every alert trigger exists on this database (else sweep mode: the
        scan is always full)."""
        found = self.conn.execute(
            sql_text(
                "SELECT COUNT(*) FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME IN :names",
                {"names": list(TRIGGER_NAMES)},
            ),
            {"names": list(TRIGGER_NAMES)},
        ).scalar_one()
        return int(found) == len(TRIGGER_NAMES)

    def read_changes(self) -> ChangeRows:
        """Every committed change row. Read before the rules' own reads, so a change
        committed in between is seen now and again by the next scan, never lost."""
        rows = self.conn.execute(text(f"SELECT id, drug_id FROM {CHANGE_TABLE}")).all()
        return ChangeRows(tuple(int(r[0]) for r in rows), frozenset(int(r[1]) for r in rows))

    def delete_changes(self, ids: Sequence[int]) -> None:
        """Delete exactly the rows read (by primary key: a writer's new row is never
        touched or waited for), in chunks of 1000."""
        for start in range(0, len(ids), 1000):
            chunk = list(ids[start : start + 1000])
            self.conn.execute(
                sql_text(f"DELETE FROM {CHANGE_TABLE} WHERE id IN :ids", {"ids": chunk}),
                {"ids": chunk},
            )

    def watermark(self, name: str) -> Watermark | None:
        row = self.conn.execute(
            text(
                f"SELECT scanned_today, horizon_end, params, full_at FROM {WATERMARK_TABLE} "
                "WHERE name = :name"
            ),
            {"name": name},
        ).first()
        return None if row is None else Watermark(row[0], row[1], str(row[2]), row[3])

    def save_watermark(self, name: str, mark: Watermark, now: datetime) -> None:
        self.conn.execute(
            text(
                f"INSERT INTO {WATERMARK_TABLE} (name, scanned_today, horizon_end, params, "
                "full_at, scanned_at) VALUES (:name, :today, :end, :params, :full, :now) "
                "ON DUPLICATE KEY UPDATE scanned_today = VALUES(scanned_today), "
                "horizon_end = VALUES(horizon_end), params = VALUES(params), "
                "full_at = VALUES(full_at), scanned_at = VALUES(scanned_at)"
            ),
            {"name": name, "today": mark.scanned_today, "end": mark.horizon_end,
             "params": mark.params, "full": mark.full_at, "now": now},
        )

    def products_expiring_between(self, after: date, upto: date) -> frozenset[int]:
        """Products with a lot expiring in ``(after, upto]`` (an index range on the
        expiration date): the day change made those lots expired."""
        if upto <= after:
            return frozenset()
        rows = self.conn.execute(
            text(
                "SELECT DISTINCT drug_id FROM drug_inventory "
                "WHERE expiration > :after AND expiration <= :upto"
            ),
            {"after": after, "upto": upto},
        )
        return frozenset(int(r[0]) for r in rows)

    def products_destroyed_since(self, day: date) -> frozenset[int]:
        """Products with a lot destroyed on or after ``day`` (an index range on the
        destroy date: OpenEMR's *Destroy Lot* screen writes no movement)."""
        rows = self.conn.execute(
            text("SELECT DISTINCT drug_id FROM drug_inventory WHERE destroy_date >= :day"),
            {"day": day},
        )
        return frozenset(int(r[0]) for r in rows)

    def reminder_keys(self, due: datetime) -> list[tuple[str, str]]:
        """Open stock and lot states not notified since ``due`` (index ``open_due``)."""
        kinds = sorted(STOCK_KINDS | LOT_KINDS)
        params: dict[str, object] = {"due": due, "kinds": kinds}
        rows = self.conn.execute(
            sql_text(
                f"SELECT kind, item_key FROM {STATE_TABLE} WHERE state = 'open' "
                "AND (last_notified IS NULL OR last_notified <= :due) AND kind IN :kinds",
                params,
            ),
            params,
        )
        return [(str(r[0]), str(r[1])) for r in rows]
