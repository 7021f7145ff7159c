"""Triggers that notice edits of the module's ``AUTO_PROC`` rows on OpenEMR's fee sheet.

OpenEMR's fee sheet lists every ``drug_sales`` row of a visit as a product line, so a
biller can change the quantity of one of our rows (``UPDATE drug_sales SET quantity``
plus an ``on_hand`` correction), delete it, or move it to another warehouse (the row is
deleted and sold again by ``sellDrug`` with the same selector). Those are actual usage,
not errors: the triggers record what changed in ``aesthetic_inventory_fee_sheet_edits``
and queue the visit; its next reconcile records the held units as the mapping's actual
instead of undoing the edit.

The module's own writes are skipped: every connection of the module's engine sets the
session variable ``@aesthetic_inventory_writer`` (``module/db.py``). The bodies are
fail-safe (:class:`~aesthetic_inventory.install.trigger_spec.TriggerSpec`), so nothing
here can make an OpenEMR write fail. The history table is append-only: its two
triggers refuse UPDATE and DELETE (not fail-safe, on purpose).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..db import existing_tables, mysql_error_code
from ..install.trigger_spec import STAMP_PREFIX, TriggerSpec

EDITS_TABLE = "aesthetic_inventory_fee_sheet_edits"
QUEUE_TABLE = "aesthetic_inventory_change_queue"
HISTORY_TABLE = "aesthetic_inventory_usage_history"
WRITER_VARIABLE = "@aesthetic_inventory_writer"
# set on OpenEMR's session by the drug_sales triggers: the lot and the on_hand change
# that the row's true old quantity calls for (read by the drug_inventory trigger)
LOT_VARIABLE = "@aesthetic_inventory_fs_lot"
DELTA_VARIABLE = "@aesthetic_inventory_fs_delta"
# 1142 command denied, 1227 needs SUPER, 1419 binary logging, 1044 access denied
_PRIVILEGE_ERRORS = frozenset({1044, 1142, 1227, 1370, 1419, 1465})

_MAPPING = "CAST(SUBSTRING({t}.selector, 11) AS UNSIGNED)"  # after 'AUTO_PROC:'
_OURS = "{t}.selector LIKE 'AUTO_PROC:%' AND {t}.trans_type = 1"
_EXPECT = (
    "SET @aesthetic_inventory_fs_lot = OLD.inventory_id, "
    "@aesthetic_inventory_fs_delta = {delta};"
)


def _record(t: str, kind: str, values: str, mapping: str | None = None) -> str:
    """The two inserts of a body: what changed, and the visit in the change queue."""
    mapping = mapping or _MAPPING.format(t=t)
    return (
        f"INSERT INTO {EDITS_TABLE} (pid, encounter, mapping_id, sale_id, kind, old_quantity, "
        f"new_quantity, old_inventory_id, new_inventory_id, username, edited_at) VALUES "
        f"(COALESCE({t}.pid, 0), COALESCE({t}.encounter, 0), {mapping}, "
        f"{t}.sale_id, '{kind}', {values}, NOW(6)); "
        f"INSERT INTO {QUEUE_TABLE} (pid, encounter, queued_at) "
        f"VALUES (COALESCE({t}.pid, 0), COALESCE({t}.encounter, 0), NOW(6));"
    )


TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_ai",
        table="drug_sales",
        event="AFTER INSERT",
        body=(
            f"IF {WRITER_VARIABLE} IS NULL AND {_OURS.format(t='NEW')} THEN "
            + _record("NEW", "insert", "NULL, NEW.quantity, NULL, NEW.inventory_id, NEW.user")
            + " END IF;"
        ),
        requires=(EDITS_TABLE, QUEUE_TABLE),
    ),
    # Only what changes stock counts: checkout flipping billed/bill_date or the fee
    # sheet rewriting fee/pricelevel must not queue the visit.
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_au",
        table="drug_sales",
        event="AFTER UPDATE",
        body=(
            f"IF {WRITER_VARIABLE} IS NULL AND ({_OURS.format(t='OLD')} "
            f"OR {_OURS.format(t='NEW')}) AND NOT (OLD.quantity <=> NEW.quantity "
            "AND OLD.inventory_id <=> NEW.inventory_id AND OLD.selector <=> NEW.selector "
            "AND OLD.pid <=> NEW.pid AND OLD.encounter <=> NEW.encounter "
            "AND OLD.drug_id <=> NEW.drug_id AND OLD.trans_type <=> NEW.trans_type) THEN "
            + _record(
                "NEW", "update",
                "OLD.quantity, NEW.quantity, OLD.inventory_id, NEW.inventory_id, "
                "IF(OLD.user <=> NEW.user, NULL, NEW.user)",
                # the mapping the row belonged to, also when its selector was rewritten
                f"IF(OLD.selector LIKE 'AUTO_PROC:%', {_MAPPING.format(t='OLD')}, "
                f"{_MAPPING.format(t='NEW')})",
            )
            + " IF NOT (OLD.quantity <=> NEW.quantity) AND OLD.inventory_id = NEW.inventory_id "
            "AND OLD.inventory_id <> 0 THEN "
            + _EXPECT.format(delta="OLD.quantity - NEW.quantity")
            + " END IF; END IF;"
        ),
        requires=(EDITS_TABLE, QUEUE_TABLE),
    ),
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_ad",
        table="drug_sales",
        event="AFTER DELETE",
        body=(
            f"IF {WRITER_VARIABLE} IS NULL AND {_OURS.format(t='OLD')} THEN "
            + _record("OLD", "delete", "OLD.quantity, NULL, OLD.inventory_id, NULL, NULL")
            + " IF OLD.inventory_id <> 0 THEN " + _EXPECT.format(delta="OLD.quantity")
            + " END IF; END IF;"
        ),
        requires=(EDITS_TABLE, QUEUE_TABLE),
    ),
    # OpenEMR's fee sheet reads a product line, then updates (or deletes) the sale row and
    # moves on_hand by the difference it computed from what it read, without a lock. If
    # the module changed that row in between, the lot would move by the wrong amount and
    # its ledger would break. The two drug_sales triggers above note, on OpenEMR's
    # session, how much the lot must move given the row's true old quantity; the next
    # on_hand update of that lot on the same session is held to that amount.
    TriggerSpec(
        name="aesthetic_inventory_drug_inventory_bu",
        table="drug_inventory",
        event="BEFORE UPDATE",
        body=(
            f"IF {WRITER_VARIABLE} IS NULL AND {LOT_VARIABLE} IS NOT NULL THEN "
            f"IF NEW.inventory_id = {LOT_VARIABLE} AND OLD.inventory_id = NEW.inventory_id "
            "AND NEW.on_hand <> OLD.on_hand "
            f"AND NOT (NEW.on_hand - OLD.on_hand <=> {DELTA_VARIABLE}) THEN "
            f"SET NEW.on_hand = OLD.on_hand + {DELTA_VARIABLE}; END IF; "
            f"SET {LOT_VARIABLE} = NULL, {DELTA_VARIABLE} = NULL; END IF;"
        ),
    ),
    TriggerSpec(
        name="aesthetic_inventory_usage_history_bu",
        table=HISTORY_TABLE,
        event="BEFORE UPDATE",
        body="SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'usage history is append-only';",
        fail_safe=False,
    ),
    TriggerSpec(
        name="aesthetic_inventory_usage_history_bd",
        table=HISTORY_TABLE,
        event="BEFORE DELETE",
        body="SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'usage history is append-only';",
        fail_safe=False,
    ),
)


@dataclass(frozen=True)
class UsageTriggerReport:
    """What the usage triggers' installer did (``migrate`` prints the message)."""

    installed: bool
    message: str
    created: tuple[str, ...] = ()


def _installed_stamps(conn: Connection) -> dict[str, str]:
    rows = conn.execute(
        text(
            "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
            "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'aesthetic\\_inventory\\_%'"
        )
    )
    return {str(r[0]): str(r[1] or "") for r in rows}


def _current(spec: TriggerSpec, installed: dict[str, str]) -> bool:
    body = installed.get(spec.name)
    return body is not None and f"{STAMP_PREFIX}{spec.version}" in body


def _execute_plain(conn: Connection, sql: str) -> None:
    """Send SQL without any parameter interpolation (the bodies' ``LIKE 'AUTO_PROC:%'``
    must reach the server as written; DDL is not transactional anyway)."""
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql)
    finally:
        cursor.close()


def install_usage_triggers(conn: Connection, *, dry_run: bool = False) -> UsageTriggerReport:
    """Create the usage triggers that are missing or outdated (version stamp differs).

    Needs the module tables the bodies write to; without the TRIGGER privilege the
    fee-sheet edits are not noticed (and said so), the rest of the module works."""
    installed = _installed_stamps(conn)
    todo = [spec for spec in TRIGGERS if not _current(spec, installed)]
    if not todo:
        return UsageTriggerReport(True, "usage triggers installed")
    names = ", ".join(spec.name for spec in todo)
    if dry_run:
        return UsageTriggerReport(False, "would create usage triggers: " + names)
    needed = {t for spec in todo for t in (*spec.requires, spec.table)}
    missing = sorted(needed - existing_tables(conn, needed))
    if missing:
        return UsageTriggerReport(
            False, "usage triggers not created: missing table(s) " + ", ".join(missing)
        )
    created: list[str] = []
    for spec in todo:
        try:
            _execute_plain(conn, spec.drop_sql())
            _execute_plain(conn, spec.create_sql())
        except DBAPIError as exc:
            code = mysql_error_code(exc)
            if code not in _PRIVILEGE_ERRORS:
                raise
            return UsageTriggerReport(
                False,
                f"usage triggers could not be created (MySQL error {code}); edits of the "
                "module's rows on OpenEMR's fee sheet are not noticed until the TRIGGER "
                "privilege is granted and migrate runs again",
                tuple(created),
            )
        created.append(spec.name)
    return UsageTriggerReport(True, "usage triggers created: " + ", ".join(created),
                              tuple(created))
