"""The SQL of the OpenEMR tables the alert channels read and write: ``globals``
(sender, SMTP), ``notification_log`` (CRM) and ``pnotes`` (internal messages)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection


class TargetsRepository:
    """OpenEMR's notification targets on one connection (the caller's transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def globals(self, names: Sequence[str]) -> dict[str, str]:
        """OpenEMR ``globals`` values (index 0) of the given names."""
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
