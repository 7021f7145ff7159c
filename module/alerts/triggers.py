"""Triggers of the alerts package: they note which products changed, so the steady
alert scan re-evaluates only those (issue 21).

Each writes one row ``(drug_id)`` to ``aesthetic_inventory_alert_change`` (a plain
INSERT with an AUTO_INCREMENT id: rows of two writers, on one server or on two
cluster nodes, never touch the same row, so a mark can never make a write wait or
fail certification):

* ``drug_sales`` AFTER INSERT / UPDATE / DELETE: every stock movement (OpenEMR's
  ``sellDrug``, its lot screen, the module's engine and stock commands) writes a
  ``drug_sales`` row; an UPDATE marks only when the quantity, lot or product changed.
* ``drugs`` AFTER INSERT / UPDATE / DELETE: a product's reorder point, ``active`` or
  ``dispensable`` changed (not ``last_notify``, which the scan itself writes).

No trigger on ``drug_inventory`` (an UPDATE trigger there drops the
``LAST_INSERT_ID(expr)`` the engine reads, see
:mod:`aesthetic_inventory.consumption.triggers`). A lot destroyed in OpenEMR's *Destroy
Lot* screen (no movement) is found by an index range on its destroy date (on or after
the last scan's day); any other lot edit without a movement (an expiration corrected,
a destroy backdated before the last scan's day, a lot row deleted) is found by the
periodic full scan (``alerts run --full``, and automatically every
:data:`~aesthetic_inventory.alerts.scope.FULL_SCAN_HOURS`).

Every body is fail-safe (:class:`TriggerSpec`): a missing change table never fails
OpenEMR's write; the scan then falls back to full scans (it reads the installed
triggers). The insert id OpenEMR reads after its own INSERT is not touched (a
trigger's own AUTO_INCREMENT is restored when it ends).
"""

from __future__ import annotations

from ..trigger_spec import TriggerSpec

CHANGE_TABLE = "aesthetic_inventory_alert_change"


def _mark(row: str, condition: str = "") -> str:
    insert = f"INSERT INTO {CHANGE_TABLE} (drug_id) VALUES ({row}.drug_id);"
    return f"IF {condition} THEN {insert} END IF;" if condition else insert


_SALE_CHANGED = (
    "NOT (NEW.quantity <=> OLD.quantity AND NEW.inventory_id <=> OLD.inventory_id "
    "AND NEW.drug_id <=> OLD.drug_id)"
)
_DRUG_CHANGED = (
    "NOT (NEW.reorder_point <=> OLD.reorder_point AND NEW.active <=> OLD.active "
    "AND NEW.dispensable <=> OLD.dispensable AND NEW.drug_id <=> OLD.drug_id)"
)

def _table_triggers(table: str, changed: str) -> tuple[TriggerSpec, ...]:
    """The three change triggers of one OpenEMR table: a row inserted, changed in what
    alerts read (``changed``; moved to another product marks the old one too), deleted."""
    name = f"aesthetic_inventory_{table}_alert"
    return (
        TriggerSpec(f"{name}_ai", table, "AFTER INSERT", _mark("NEW"), requires=(CHANGE_TABLE,)),
        TriggerSpec(f"{name}_au", table, "AFTER UPDATE",
                    _mark("NEW", changed) + " " + _mark("OLD", "NEW.drug_id <> OLD.drug_id"),
                    requires=(CHANGE_TABLE,)),
        TriggerSpec(f"{name}_ad", table, "AFTER DELETE", _mark("OLD"), requires=(CHANGE_TABLE,)),
    )


TRIGGERS: tuple[TriggerSpec, ...] = (
    *_table_triggers("drug_sales", _SALE_CHANGED),
    *_table_triggers("drugs", _DRUG_CHANGED),
)

TRIGGER_NAMES: tuple[str, ...] = tuple(spec.name for spec in TRIGGERS)
