"""All SQL of the alerts concern: rule queries (one per rule), alert state,
``last_notify``, the outbox, OpenEMR globals and the channel writes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from .rules import AlertItem, LotRow, ShortageRow, StockLevel, StoredState

STATE_TABLE = "aesthetic_inventory_alert_state"
OUTBOX_TABLE = "aesthetic_inventory_outbox"
USAGE_TABLE = "aesthetic_inventory_usage"
SCAN_LOCK = "ai_alert_scan:"


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


class AlertRepository:
    """SQL on one connection (inside the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- scan serialisation ------------------------------------------------------
    def acquire_scan_lock(self, timeout_seconds: int = 10) -> bool:
        """A named lock so two scans (service and a manual run) never decide at once."""
        got = self.conn.execute(
            # named locks are server-wide: scope it to this database
            text("SELECT GET_LOCK(CONCAT(:name, LEFT(DATABASE(), 40)), :timeout)"),
            {"name": SCAN_LOCK, "timeout": timeout_seconds},
        ).scalar()
        return got == 1

    def release_scan_lock(self) -> None:
        self.conn.execute(
            text("SELECT RELEASE_LOCK(CONCAT(:name, LEFT(DATABASE(), 40)))"), {"name": SCAN_LOCK}
        )

    def table_exists(self, name: str) -> bool:
        return bool(
            self.conn.execute(
                text(
                    "SELECT COUNT(*) FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :name"
                ),
                {"name": name},
            ).scalar()
        )

    # -- rule queries: one set-based query each ----------------------------------
    def stock_levels_at_or_below_reorder(self, today: date) -> list[StockLevel]:
        """Active, dispensable products with a reorder point whose usable stock
        (lots not destroyed, not expired) is at or below it."""
        rows = self.conn.execute(
            text(
                "SELECT d.drug_id, d.name, d.reorder_point, "
                "COALESCE(SUM(di.on_hand), 0) AS usable "
                "FROM drugs d LEFT JOIN drug_inventory di ON di.drug_id = d.drug_id "
                "AND di.destroy_date IS NULL AND di.on_hand > 0 "
                "AND (di.expiration IS NULL OR di.expiration > :today) "
                "WHERE d.active = 1 AND d.dispensable = 1 AND d.reorder_point > 0 "
                "GROUP BY d.drug_id, d.name, d.reorder_point "
                "HAVING usable <= d.reorder_point"
            ),
            {"today": today},
        )
        return [StockLevel(int(r[0]), r[1] or "", float(r[2]), int(r[3])) for r in rows]

    def _lots(self, condition: str, params: dict[str, object]) -> list[LotRow]:
        rows = self.conn.execute(
            text(
                "SELECT di.inventory_id, di.drug_id, d.name, COALESCE(di.lot_number, ''), "
                "COALESCE(lo.title, di.warehouse_id), di.on_hand, di.expiration, d.reorder_point "
                "FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
                "LEFT JOIN list_options lo ON lo.list_id = 'warehouse' "
                "AND lo.option_id = di.warehouse_id "
                "WHERE di.destroy_date IS NULL AND di.on_hand > 0 "
                "AND di.expiration IS NOT NULL AND " + condition  # fixed text, no values
            ),
            params,
        )
        return [
            LotRow(int(r[0]), int(r[1]), r[2] or "", r[3], r[4] or "", int(r[5]), r[6], float(r[7]))
            for r in rows
        ]

    def expiring_lots(self, today: date, horizon_end: date) -> list[LotRow]:
        """Lots with stock expiring after today and on or before the horizon end."""
        return self._lots(
            "di.expiration > :today AND di.expiration <= :end", {"today": today, "end": horizon_end}
        )

    def expired_lots(self, today: date) -> list[LotRow]:
        """Lots with stock whose expiration is today or earlier (not sellable)."""
        return self._lots("di.expiration <= :today", {"today": today})

    def open_shortages(self) -> list[ShortageRow]:
        """Open shortages from the consumption engine's usage table."""
        rows = self.conn.execute(
            text(
                "SELECT u.pid, u.encounter, u.mapping_id, u.drug_id, COALESCE(d.name, ''), "
                "CONCAT(u.code_type, ' ', u.code), u.shortage_units "
                f"FROM {USAGE_TABLE} u LEFT JOIN drugs d ON d.drug_id = u.drug_id "
                "WHERE u.shortage_units > 0"
            )
        )
        return [
            ShortageRow(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], r[5], float(r[6]))
            for r in rows
        ]

    # -- alert state -------------------------------------------------------------
    def states(self) -> dict[tuple[str, str], StoredState]:
        """Open states (resolved ones behave like absent ones for the decision)."""
        rows = self.conn.execute(
            text(
                f"SELECT kind, item_key, state, last_notified FROM {STATE_TABLE} "
                "WHERE state = 'open'"
            )
        )
        return {(r[0], r[1]): StoredState(r[0], r[1], r[2], r[3]) for r in rows}

    def upsert_states(
        self, items: Sequence[AlertItem], notified: set[tuple[str, str]], now: datetime
    ) -> None:
        """Mark every current item open and seen now; notified ones get
        ``last_notified`` = now.

        Every value of the VALUES list is a placeholder (the constants too):
        PyMySQL's ``executemany`` folds the rows into one multi-row INSERT only
        then (``pymysql.cursors.RE_INSERT_VALUES``); a literal makes it send one
        statement per item."""
        if not items:
            return
        sql = text(
            f"INSERT INTO {STATE_TABLE} "
            "(kind, item_key, state, first_seen, last_seen, last_notified, resolved_at, "
            "notify_count) VALUES (:kind, :key, :state, :now, :now, :notified, :resolved, :count) "
            "ON DUPLICATE KEY UPDATE "
            "first_seen = IF(state = 'open', first_seen, VALUES(first_seen)), "
            "notify_count = IF(state = 'open', notify_count, 0) + VALUES(notify_count), "
            "last_notified = IF(VALUES(last_notified) IS NULL, "
            "IF(state = 'open', last_notified, NULL), VALUES(last_notified)), "
            "state = 'open', resolved_at = NULL, last_seen = VALUES(last_seen)"
        )
        params = [
            {
                "kind": item.kind,
                "key": item.item_key,
                "state": "open",
                "resolved": None,
                "now": now,
                "notified": now if item.state_key in notified else None,
                "count": 1 if item.state_key in notified else 0,
            }
            for item in items
        ]
        self.conn.execute(sql, params)

    def resolve_states(self, keys: Iterable[tuple[str, str]], now: datetime) -> int:
        """Close states whose condition went away (one statement)."""
        wanted = sorted(keys)
        if not wanted:
            return 0
        result = self.conn.execute(
            text(
                f"UPDATE {STATE_TABLE} SET state = 'resolved', resolved_at = :now "
                "WHERE state = 'open' AND CONCAT(kind, ':', item_key) IN :keys"
            ).bindparams(bindparam("keys", expanding=True)),
            {"now": now, "keys": [f"{k}:{i}" for k, i in wanted]},
        )
        return result.rowcount

    def touch_last_notify(self, drug_ids: set[int], inventory_ids: set[int], today: date) -> None:
        """Keep OpenEMR's ``last_notify`` columns current (one UPDATE per table)."""
        if drug_ids:
            self.conn.execute(
                text("UPDATE drugs SET last_notify = :today WHERE drug_id IN :ids").bindparams(
                    bindparam("ids", expanding=True)
                ),
                {"today": today, "ids": sorted(drug_ids)},
            )
        if inventory_ids:
            self.conn.execute(
                text(
                    "UPDATE drug_inventory SET last_notify = :today WHERE inventory_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True)),
                {"today": today, "ids": sorted(inventory_ids)},
            )

    # -- outbox ------------------------------------------------------------------
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

    def claim_due(
        self, now: datetime, channels: Sequence[str], skip: Sequence[str] = ()
    ) -> OutboxRow | None:
        """Lock the oldest due pending row of the given channels; concurrent
        workers skip rows another worker holds."""
        wanted = [c for c in channels if c not in skip]
        if not wanted:
            return None
        row = self.conn.execute(
            text(
                "SELECT id, channel, idempotency_key, subject, body_text, body_html, "
                f"payload_json, attempts FROM {OUTBOX_TABLE} "
                "WHERE status = 'pending' AND next_attempt_at <= :now AND channel IN :channels "
                "ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ).bindparams(bindparam("channels", expanding=True)),
            {"now": now, "channels": wanted},
        ).first()
        return OutboxRow(*row) if row is not None else None

    def mark_delivered(self, row_id: int, now: datetime) -> None:
        self.conn.execute(
            text(
                f"UPDATE {OUTBOX_TABLE} SET status = 'delivered', delivered_at = :now, "
                "attempts = attempts + 1, last_error = '' WHERE id = :id"
            ),
            {"now": now, "id": row_id},
        )

    def mark_failed(self, row_id: int, error: str, next_attempt_at: datetime) -> None:
        self.conn.execute(
            text(
                f"UPDATE {OUTBOX_TABLE} SET attempts = attempts + 1, "
                "next_attempt_at = :next, last_error = :error WHERE id = :id"
            ),
            {"next": next_attempt_at, "error": error[:500], "id": row_id},
        )

    def outbox_counts(self) -> dict[str, int]:
        rows = self.conn.execute(
            text(f"SELECT status, COUNT(*) FROM {OUTBOX_TABLE} GROUP BY status")
        )
        return {r[0]: int(r[1]) for r in rows}

    # -- OpenEMR globals and channel targets --------------------------------------
    def globals(self, names: Sequence[str]) -> dict[str, str]:
        rows = self.conn.execute(
            text(
                "SELECT gl_name, gl_value FROM globals WHERE gl_name IN :names AND gl_index = 0"
            ).bindparams(bindparam("names", expanding=True)),
            {"names": list(names)},
        )
        return {r[0]: r[1] for r in rows}

    def insert_crm_log(self, message: str, sender: str, now: datetime) -> int:
        """The ``notification_log`` row exactly as SPEC section 2."""
        result = self.conn.execute(
            text(
                "INSERT INTO notification_log (pid, pc_eid, sms_gateway_type, smsgateway_info, "
                "message, email_sender, email_subject, type, patient_info, pc_eventDate, "
                "pc_endDate, pc_startTime, pc_endTime, dSentDateTime) VALUES (0, NULL, 'CRM', "
                "'AestheticInventory', :message, :sender, 'Aesthetic Inventory Alert', 'Email', "
                "'', :today, :today, '00:00:00', '23:59:59', :now)"
            ),
            {"message": message, "sender": sender, "today": now.date(), "now": now},
        )
        return int(result.lastrowid)

    def latest_crm_log(self) -> dict[str, object] | None:
        """The newest CRM row of this module (for the demo and ``status``)."""
        row = (
            self.conn.execute(
                text(
                    "SELECT iLogId, pid, pc_eid, sms_gateway_type, smsgateway_info, email_sender, "
                    "email_subject, type, pc_eventDate, pc_endDate, pc_startTime, pc_endTime, "
                    "dSentDateTime, message FROM notification_log "
                    "WHERE smsgateway_info = 'AestheticInventory' ORDER BY iLogId DESC LIMIT 1"
                )
            )
            .mappings()
            .first()
        )
        return dict(row) if row is not None else None

    def message_exists(self, marker: str) -> bool:
        """Whether an internal message carrying this idempotency marker exists."""
        return bool(
            self.conn.execute(
                text("SELECT COUNT(*) FROM pnotes WHERE pid = 0 AND body LIKE :pattern"),
                {"pattern": "%" + marker.replace("%", r"\%").replace("_", r"\_") + "%"},
            ).scalar()
        )

    def insert_messages(
        self, title: str, body: str, sender: str, recipients: Sequence[str], now: datetime
    ) -> None:
        """One ``pnotes`` message per recipient (one multi-row insert: placeholders only)."""
        self.conn.execute(
            text(
                "INSERT INTO pnotes (date, body, pid, user, groupname, activity, authorized, "
                "title, assigned_to, deleted, message_status) VALUES (:now, :body, :pid, :user, "
                ":group, :activity, :authorized, :title, :to, :deleted, :status)"
            ),
            [
                {
                    "now": now, "body": body, "pid": 0, "user": sender, "group": "Default",
                    "activity": 1, "authorized": 0, "title": title, "to": to, "deleted": 0,
                    "status": "New",
                }
                for to in recipients
            ],
        )
