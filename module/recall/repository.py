"""Every SQL statement of the recall room, on the caller's connection (one unit of work).

Lock order is the stock package's: product rows (``drugs``) first, then lots in
ascending ``inventory_id``; the recall row is locked after them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ..db import table_exists
from .domain import Exposure, LotState, Recall

RECALL = "aesthetic_inventory_recall"
NOTICE = "aesthetic_inventory_recall_notice"
AUDIT = "aesthetic_inventory_recall_audit"
MODULE_TABLES: tuple[str, ...] = (RECALL, NOTICE, AUDIT)
# The open-vial issue's draw table, when installed: which container a sale came from.
CONTAINER_DRAWS = "aesthetic_inventory_container_draw"

_RECALL_COLUMNS = (
    "id, lot_number, drug_id, reason, status, quarantine_warehouse, opened_by, opened_at, "
    "closed_by, closed_at, close_note"
)


def _recall(r: Sequence[Any]) -> Recall:
    return Recall(int(r[0]), str(r[1]), None if r[2] is None else int(r[2]), str(r[3]),
                  str(r[4]), str(r[5]), str(r[6]), r[7], r[8], r[9], r[10])


class RecallRepository:
    """The recall room's SQL inside one unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- recalls ---------------------------------------------------------------------

    def find_open(self, key: str, *, lock: bool = False) -> Recall | None:
        r = self.conn.execute(text(
            f"SELECT {_RECALL_COLUMNS} FROM {RECALL} WHERE open_key = :k"
            + (" FOR UPDATE" if lock else "")), {"k": key}).first()
        return None if r is None else _recall(r)

    def get(self, recall_id: int, *, lock: bool = False) -> Recall | None:
        r = self.conn.execute(text(
            f"SELECT {_RECALL_COLUMNS} FROM {RECALL} WHERE id = :i"
            + (" FOR UPDATE" if lock else "")), {"i": recall_id}).first()
        return None if r is None else _recall(r)

    def all(self) -> list[Recall]:
        rows = self.conn.execute(text(
            f"SELECT {_RECALL_COLUMNS} FROM {RECALL} ORDER BY id DESC"))
        return [_recall(r) for r in rows]

    def insert(self, *, lot_number: str, drug_id: int | None, reason: str, key: str,
               warehouse: str, user: str, now: datetime) -> int | None:
        """The new recall's id, or None when another open recall took the key first."""
        try:
            with self.conn.begin_nested():
                result = self.conn.execute(text(
                    f"INSERT INTO {RECALL} (lot_number, drug_id, reason, status, open_key, "
                    "quarantine_warehouse, opened_by, opened_at) VALUES "
                    "(:l, :d, :r, 'open', :k, :w, :u, :t)"),
                    {"l": lot_number, "d": drug_id, "r": reason, "k": key, "w": warehouse,
                     "u": user, "t": now})
        except IntegrityError:
            return None
        return int(result.lastrowid)

    def close(self, recall_id: int, *, user: str, note: str, now: datetime) -> None:
        self.conn.execute(text(
            f"UPDATE {RECALL} SET status = 'closed', open_key = NULL, closed_by = :u, "
            "closed_at = :t, close_note = :n WHERE id = :i"),
            {"u": user, "t": now, "n": note, "i": recall_id})

    def audit(self, recall_id: int, action: str, user: str, detail: str,
              now: datetime) -> None:
        self.conn.execute(text(
            f"INSERT INTO {AUDIT} (recall_id, action, user, at, detail) "
            "VALUES (:r, :a, :u, :t, :d)"),
            {"r": recall_id, "a": action, "u": user, "t": now, "d": detail[:1000]})

    def audit_trail(self, recall_id: int) -> list[tuple[str, str, datetime, str]]:
        rows = self.conn.execute(text(
            f"SELECT action, user, at, detail FROM {AUDIT} WHERE recall_id = :r ORDER BY id"),
            {"r": recall_id})
        return [(str(r[0]), str(r[1]), r[2], str(r[3])) for r in rows]

    # -- products, warehouse, lots -----------------------------------------------------

    def products(self, product: int | str) -> list[tuple[int, str]]:
        """(drug_id, name) of a product given by id or exact name."""
        where = "drug_id = :p" if isinstance(product, int) else "name = :p"
        rows = self.conn.execute(text(
            f"SELECT drug_id, name FROM drugs WHERE {where} ORDER BY drug_id"), {"p": product})
        return [(int(r[0]), str(r[1] or "")) for r in rows]

    def warehouse(self, option_id: str) -> tuple[int, int] | None:
        """(seq, activity) of a warehouse list entry, None when missing."""
        r = self.conn.execute(text(
            "SELECT seq, activity FROM list_options WHERE list_id = 'warehouse' "
            "AND option_id = :o"), {"o": option_id}).first()
        return None if r is None else (int(r[0] or 0), int(r[1] or 0))

    def create_warehouse(self, option_id: str, title: str, seq: int) -> None:
        """The list entry as OpenEMR's list editor writes it (INSERT IGNORE: a
        concurrent recall may create it first)."""
        self.conn.execute(text(
            "INSERT IGNORE INTO list_options (list_id, option_id, title, seq, is_default, "
            "activity) VALUES ('warehouse', :o, :t, :s, 0, 1)"),
            {"o": option_id, "t": title, "s": seq})

    def lot_ids(self, lot_number: str, drug_id: int | None) -> list[tuple[int, int]]:
        """(inventory_id, drug_id) of every lot with this number (no lock)."""
        params: dict[str, Any] = {"l": lot_number}
        where = ""
        if drug_id is not None:
            where, params["d"] = " AND drug_id = :d", drug_id
        rows = self.conn.execute(text(
            f"SELECT inventory_id, drug_id FROM drug_inventory WHERE lot_number = :l{where} "
            "ORDER BY inventory_id"), params)
        return [(int(r[0]), int(r[1])) for r in rows]

    def lot_states(self, inventory_ids: Sequence[int]) -> list[LotState]:
        """The lots with their warehouse's seq (as sellDrug joins it: active entries)."""
        if not inventory_ids:
            return []
        ids = ", ".join(str(int(i)) for i in sorted(set(inventory_ids)))
        rows = self.conn.execute(text(
            "SELECT di.inventory_id, di.drug_id, COALESCE(d.name, ''), di.warehouse_id, "
            "lo.seq, di.on_hand, di.destroy_date IS NOT NULL FROM drug_inventory di "
            "JOIN drugs d ON d.drug_id = di.drug_id LEFT JOIN list_options lo ON "
            "lo.list_id = 'warehouse' AND lo.option_id = di.warehouse_id AND lo.activity = 1 "
            f"WHERE di.inventory_id IN ({ids}) ORDER BY di.inventory_id"))
        return [LotState(int(r[0]), int(r[1]), str(r[2]), str(r[3] or ""),
                         None if r[4] is None else int(r[4]), int(r[5]), bool(r[6]))
                for r in rows]

    # -- who received the lot -----------------------------------------------------------

    def exposures(self, lot_number: str, drug_id: int | None) -> list[Exposure]:
        """Per patient, visit and lot: units kept (sales net of returns), contact details
        and the visit's provider."""
        params: dict[str, Any] = {"l": lot_number}
        where = ""
        if drug_id is not None:
            where, params["d"] = " AND di.drug_id = :d", drug_id
        container = self._container_column()
        rows = self.conn.execute(text(
            "SELECT ds.pid, TRIM(CONCAT_WS(' ', pd.fname, pd.lname)), "
            "IF(YEAR(pd.DOB) = 0, NULL, pd.DOB), COALESCE(pd.phone_cell, ''), "
            "COALESCE(pd.phone_home, ''), COALESCE(pd.email, ''), ds.encounter, "
            "MIN(COALESCE(DATE(fe.date), ds.sale_date)), SUM(ds.quantity) AS units, "
            "COALESCE(MIN(pu.username), ''), "
            "COALESCE(MIN(NULLIF(TRIM(CONCAT_WS(' ', pu.fname, pu.lname)), '')), ''), "
            f"COALESCE(d.name, ''), di.inventory_id, {container} "
            "FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
            "JOIN drug_sales ds ON ds.inventory_id = di.inventory_id AND ds.pid <> 0 "
            "AND ds.xfer_inventory_id = 0 "
            "LEFT JOIN patient_data pd ON pd.pid = ds.pid "
            "LEFT JOIN form_encounter fe ON fe.pid = ds.pid AND fe.encounter = ds.encounter "
            "LEFT JOIN users pu ON pu.id = fe.provider_id "
            f"WHERE di.lot_number = :l{where} "
            "GROUP BY ds.pid, ds.encounter, di.inventory_id, pd.fname, pd.lname, pd.DOB, "
            "pd.phone_cell, pd.phone_home, pd.email, d.name HAVING units > 0 "
            "ORDER BY 8, ds.pid, ds.encounter, di.inventory_id"), params)
        return [Exposure(
            pid=int(r[0]), name=str(r[1] or f"pid {r[0]}"), dob=r[2],
            phone=" / ".join(p for p in (str(r[3]), str(r[4])) if p), email=str(r[5]),
            encounter=int(r[6]), visit_date=_day(r[7]), units=int(r[8]), provider=str(r[9]),
            provider_name=str(r[10]), product=str(r[11]), inventory_id=int(r[12]),
            container=str(r[13] or "")) for r in rows]

    def _container_column(self) -> str:
        # only when the open-vial draw table is there with the columns read here
        columns = {str(r[0]) for r in self.conn.execute(text(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
            "DATABASE() AND TABLE_NAME = :t"), {"t": CONTAINER_DRAWS})}
        if not {"container_id", "sale_id"} <= columns:
            return "''"
        return ("(SELECT GROUP_CONCAT(DISTINCT cd.container_id ORDER BY cd.container_id) "
                f"FROM {CONTAINER_DRAWS} cd JOIN drug_sales s2 ON s2.sale_id = cd.sale_id "
                "WHERE s2.inventory_id = di.inventory_id AND s2.pid = ds.pid "
                "AND s2.encounter = ds.encounter)")

    # -- provider messages -------------------------------------------------------------

    def notified(self, recall_id: int) -> dict[str, int]:
        rows = self.conn.execute(text(
            f"SELECT provider, pnote_id FROM {NOTICE} WHERE recall_id = :r"), {"r": recall_id})
        return {str(r[0]): int(r[1]) for r in rows}

    def user_id(self, username: str) -> int | None:
        r = self.conn.execute(text("SELECT id FROM users WHERE username = :u"),
                              {"u": username}).first()
        return None if r is None else int(r[0])

    def insert_pnote(self, *, body: str, sender: str, sender_id: int | None, title: str,
                     assigned_to: str, now: datetime) -> int:
        """addPnote() (library/pnotes.inc.php) as the messages screen calls it: no patient,
        status New, the body prefixed "date (sender to provider)"."""
        stamped = f"{now:%Y-%m-%d %H:%M} ({sender} to {assigned_to}) {body}"
        result = self.conn.execute(text(
            "INSERT INTO pnotes (date, body, pid, user, groupname, authorized, activity, "
            "title, assigned_to, message_status, update_by, update_date) VALUES "
            "(:t, :b, 0, :u, 'Default', 0, 1, :title, :to, 'New', :by, :t)"),
            {"t": now, "b": stamped, "u": sender, "title": title, "to": assigned_to,
             "by": sender_id})
        return int(result.lastrowid)

    def record_notice(self, recall_id: int, provider: str, pnote_id: int, patients: int,
                      now: datetime) -> None:
        self.conn.execute(text(
            f"INSERT INTO {NOTICE} (recall_id, provider, pnote_id, patients, created_at) "
            "VALUES (:r, :p, :n, :c, :t)"),
            {"r": recall_id, "p": provider, "n": pnote_id, "c": patients, "t": now})


def _day(value: Any) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def clinic_details(conn: Connection) -> dict[str, str]:
    """The primary facility's name, address and phone for the letters ('' when the
    database has no facility table or row)."""
    if not table_exists(conn, "facility"):
        return {"name": "", "address": "", "phone": ""}
    r = conn.execute(text(
        "SELECT name, street, city, state, postal_code, phone FROM facility "
        "ORDER BY primary_business_entity DESC, id LIMIT 1")).first()
    if r is None:
        return {"name": "", "address": "", "phone": ""}
    place = " ".join(p for p in (str(r[2] or ""), str(r[3] or ""), str(r[4] or "")) if p)
    return {"name": str(r[0] or ""),
            "address": ", ".join(p for p in (str(r[1] or ""), place) if p),
            "phone": str(r[5] or "")}
