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

from ..install.trigger_spec import TriggerSpec

EDITS_TABLE = "aesthetic_inventory_fee_sheet_edits"
QUEUE_TABLE = "aesthetic_inventory_change_queue"
HISTORY_TABLE = "aesthetic_inventory_usage_history"
WRITER_VARIABLE = "@aesthetic_inventory_writer"
# set on OpenEMR's session by the drug_sales triggers: the lot and the on_hand change
# that the row's true old quantity calls for (read by the drug_inventory trigger)
LOT_VARIABLE = "@aesthetic_inventory_fs_lot"
DELTA_VARIABLE = "@aesthetic_inventory_fs_delta"

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
            + " IF NOT (OLD.quantity <=> NEW.quantity) AND OLD.inventory_id = NEW.inventory_id "
            "AND OLD.inventory_id <> 0 THEN "
            + _EXPECT.format(delta="OLD.quantity - NEW.quantity")
            + " END IF; END IF;"
        ),
        requires=(EDITS_TABLE, QUEUE_TABLE),
    ),
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_usage_ad",
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
        name="aesthetic_inventory_drug_inventory_usage_bu",
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
