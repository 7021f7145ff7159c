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
triggers refuse UPDATE and DELETE (not fail-safe, on purpose). ``migrate`` installs
them through the one trigger installer (``install.triggers``, which lists this module).
"""

from __future__ import annotations

from ..trigger_spec import TriggerSpec

EDITS_TABLE = "aesthetic_inventory_fee_sheet_edits"
QUEUE_TABLE = "aesthetic_inventory_change_queue"
HISTORY_TABLE = "aesthetic_inventory_usage_history"
DRAW_TABLE = "aesthetic_inventory_container_draw"
WRITER_VARIABLE = "@aesthetic_inventory_writer"

_MAPPING = "CAST(SUBSTRING({t}.selector, 11) AS UNSIGNED)"  # after 'AUTO_PROC:'
_OURS = "{t}.selector LIKE 'AUTO_PROC:%' AND {t}.trans_type = 1"


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


# The vial draws of a row follow the row (issue 18): a draw records units of this sale
# taken from an open container, so when the fee sheet deletes the row, moves it to
# another lot or lowers its quantity (OpenEMR puts the units back on the lot), the
# draws give them back too, the newest first, and the container's units left agree
# with its lot again. A raised quantity took the extra units from the lot, not from a
# vial: the draws stay as they were.
_DRAWS_FOLLOW_DELETE = f"DELETE FROM {DRAW_TABLE} WHERE sale_id = OLD.sale_id;"
_DRAWS_FOLLOW_UPDATE = (
    f"IF NOT ({_OURS.format(t='NEW')}) OR NOT (OLD.inventory_id <=> NEW.inventory_id) "
    f"OR NOT (OLD.sale_id <=> NEW.sale_id) THEN "
    f"DELETE FROM {DRAW_TABLE} WHERE sale_id = OLD.sale_id; "
    "ELSEIF NEW.quantity < OLD.quantity THEN BEGIN "
    "DECLARE excess INT DEFAULT 0; DECLARE draw_id BIGINT DEFAULT 0; "
    "DECLARE draw_units INT DEFAULT 0; DECLARE rounds INT DEFAULT 0; "
    f"SELECT COALESCE(SUM(units), 0) - GREATEST(NEW.quantity, 0) INTO excess FROM {DRAW_TABLE} "
    "WHERE sale_id = NEW.sale_id; "
    "WHILE excess > 0 AND rounds < 100 DO "
    "SET rounds = rounds + 1, draw_id = 0; "
    f"SELECT id, units INTO draw_id, draw_units FROM {DRAW_TABLE} WHERE sale_id = NEW.sale_id "
    "AND units > 0 ORDER BY id DESC LIMIT 1; "
    "IF draw_id = 0 THEN SET excess = 0; ELSE "
    f"UPDATE {DRAW_TABLE} SET units = units - LEAST(draw_units, excess) WHERE id = draw_id; "
    "SET excess = excess - LEAST(draw_units, excess); END IF; "
    "END WHILE; "
    f"DELETE FROM {DRAW_TABLE} WHERE sale_id = NEW.sale_id AND units <= 0; "
    "END; END IF;"
)

TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_usage_ai",
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
        name="aesthetic_inventory_drug_sales_usage_au",
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
            + " END IF; "
            + f"IF {WRITER_VARIABLE} IS NULL AND {_OURS.format(t='OLD')} THEN "
            + _DRAWS_FOLLOW_UPDATE + " END IF;"
        ),
        requires=(EDITS_TABLE, QUEUE_TABLE, DRAW_TABLE),
    ),
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_usage_ad",
        table="drug_sales",
        event="AFTER DELETE",
        body=(
            f"IF {WRITER_VARIABLE} IS NULL AND {_OURS.format(t='OLD')} THEN "
            + _record("OLD", "delete", "OLD.quantity, NULL, OLD.inventory_id, NULL, NULL")
            + " " + _DRAWS_FOLLOW_DELETE + " END IF;"
        ),
        requires=(EDITS_TABLE, QUEUE_TABLE, DRAW_TABLE),
    ),
    # No trigger on drug_inventory: any UPDATE trigger there makes the server drop the
    # LAST_INSERT_ID(expr) that the engine's lock-by-update check reads from its UPDATE's
    # reply, so a lot changed by a concurrent save would go unnoticed and be oversold.
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
