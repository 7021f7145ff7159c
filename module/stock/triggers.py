"""Triggers of the stock package: its movement ledger ``aesthetic_inventory_stock_ledger``.

* ``drug_sales`` observers (fail-safe, like every trigger on an OpenEMR table): they
  record the AUTO_PROC rows shrunk or deleted (the engine's returns, and OpenEMR's fee
  sheet editing an AUTO_PROC row) in the movement ledger as RETURN (or ISSUE when a
  row grows). The engine's inserts are ledgered by the reconcile itself, one INSERT ...
  SELECT for all its rows (``ConsumptionRepository.insert_sales``, issue 21: no per-row
  unit-cost subquery), so the insert observer keeps its name with an empty body: an
  upgraded install's old body is replaced by ``migrate`` and never ledgers twice.
  Rows the stock commands write themselves (purchases, transfers, adjustments) carry no
  AUTO_PROC selector and are ledgered by the commands.
* Movements made in OpenEMR itself (its lot screen ``add_edit_lot.php``: purchase 2,
  return 3, transfer 4, adjustment 5, consumption 7; a new lot's on_hand arrives as its
  purchase row) are ledgered by the same ``AFTER INSERT`` observer, with the OpenEMR
  user of the row: rows of a session without ``@aesthetic_inventory_writer`` (every
  module connection sets it). A transfer's row sits on the destination lot with
  ``xfer_inventory_id`` = the source, which OpenEMR decrements without a row: both lots
  get a TRANSFER movement. Plain VALUES, no read: the cost of a purchase or return is
  its ``fee`` / quantity, other movements carry 0 (the reports' cost fallback applies).
  No trigger on ``drug_inventory`` (see :mod:`aesthetic_inventory.consumption.triggers`).
* Guards of the ledger and of its seals (NOT fail-safe: refusing is their job): any
  UPDATE or DELETE of ``aesthetic_inventory_stock_ledger`` or
  ``aesthetic_inventory_ledger_seal`` fails with SQLSTATE 45000.

They are installed, checked and dropped by the one installer
(:mod:`aesthetic_inventory.install.triggers`), which imports this module.
"""

from __future__ import annotations

from ..trigger_spec import TriggerSpec
from .usable import lot_cost_sql, product_stock_join_sql

LEDGER_TABLE = "aesthetic_inventory_stock_ledger"
SEAL_TABLE = "aesthetic_inventory_ledger_seal"
WRITER_VARIABLE = "@aesthetic_inventory_writer"

_INSERT = (
    f"INSERT INTO {LEDGER_TABLE} (movement, inventory_id, drug_id, quantity, unit_cost, "
    "reference_type, reference_id, sale_id, user, notes) "
)


def _observe(row: str, movement: str, quantity: str, condition: str) -> str:
    # IF ... INSERT ... VALUES: no INSERT ... SELECT (cheaper per row); the unit cost is
    # the lot's at the time of the movement, 0 (OpenEMR's own lot screen) falling back
    # as everywhere else (usable.lot_cost_sql)
    return (
        f"IF {condition} THEN "
        + _INSERT
        + f"VALUES ('{movement}', {row}.inventory_id, {row}.drug_id, {quantity}, "
        f"COALESCE((SELECT {lot_cost_sql()} FROM drug_inventory di "
        f"JOIN drugs d ON d.drug_id = di.drug_id {product_stock_join_sql()} "
        f"WHERE di.inventory_id = {row}.inventory_id), 0), "
        f"'visit', CONCAT({row}.pid, '.', {row}.encounter), {row}.sale_id, "
        f"COALESCE({row}.user, ''), {row}.selector); END IF;"
    )


_AUTO = "{r}.selector LIKE 'AUTO_PROC:%' AND {r}.inventory_id > 0"

# OpenEMR's trans_type -> movement (ELT is 1-based: 1 sale and 6 distribution are not
# lot-screen movements).
_OPENEMR_MOVEMENT = (
    "ELT(NEW.trans_type, '', 'RECEIVE', 'RETURN', 'TRANSFER', 'ADJUST', '', 'ISSUE')"
)


def _openemr_movements() -> str:
    """The lot-screen branch of the AFTER INSERT observer (see the module docstring)."""
    values = ("'openemr', NEW.sale_id, NEW.sale_id, COALESCE(NEW.user, ''), NEW.notes)")
    return (
        f"IF {WRITER_VARIABLE} IS NULL AND NEW.trans_type IN (2, 3, 4, 5, 7) "
        "AND NEW.inventory_id > 0 AND NEW.quantity <> 0 THEN "
        + _INSERT
        + f"VALUES ({_OPENEMR_MOVEMENT}, NEW.inventory_id, NEW.drug_id, -NEW.quantity, "
        "IF(NEW.trans_type IN (2, 3), ROUND(ABS(NEW.fee / NEW.quantity), 4), 0), "
        + values + "; "
        "IF NEW.trans_type = 4 AND NEW.xfer_inventory_id > 0 THEN "
        + _INSERT
        + "VALUES ('TRANSFER', NEW.xfer_inventory_id, NEW.drug_id, NEW.quantity, 0, "
        + values + "; END IF; END IF;"
    )


def _append_only(table: str, what: str) -> tuple[TriggerSpec, ...]:
    return tuple(
        TriggerSpec(
            name=f"{table}_b{event[0].lower()}",
            table=table,
            event=f"BEFORE {event}",
            body="SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = "
            f"'{table} is append-only: {what} cannot be {event.lower()}d';",
            fail_safe=False,
        )
        for event in ("UPDATE", "DELETE")
    )


TRIGGERS: tuple[TriggerSpec, ...] = (
    # The engine's inserts are ledgered by the reconcile itself (see the module docstring);
    # this observer keeps only the lot-screen branch (rows of OpenEMR's own sessions).
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_stock_ai",
        table="drug_sales",
        event="AFTER INSERT",
        body=_openemr_movements(),
        requires=(LEDGER_TABLE,),
    ),
    # The engine shrinks a row to give stock back (or, in principle, grows it).
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_stock_au",
        table="drug_sales",
        event="AFTER UPDATE",
        body=(
            _observe("NEW", "RETURN", "OLD.quantity - NEW.quantity",
                     _AUTO.format(r="NEW") + " AND NEW.inventory_id = OLD.inventory_id "
                     "AND NEW.quantity < OLD.quantity")
            + " "
            + _observe("NEW", "ISSUE", "OLD.quantity - NEW.quantity",
                       _AUTO.format(r="NEW") + " AND NEW.inventory_id = OLD.inventory_id "
                       "AND NEW.quantity > OLD.quantity")
        ),
        requires=(LEDGER_TABLE,),
    ),
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_stock_ad",
        table="drug_sales",
        event="AFTER DELETE",
        body=_observe("OLD", "RETURN", "OLD.quantity",
                      _AUTO.format(r="OLD") + " AND OLD.quantity <> 0"),
        requires=(LEDGER_TABLE,),
    ),
    *_append_only(LEDGER_TABLE, "rows"),
    *_append_only(SEAL_TABLE, "seals"),
)
