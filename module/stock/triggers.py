"""Triggers of the stock package.

* ``drug_sales`` observers (fail-safe, like every trigger on an OpenEMR table): they
  record the AUTO_PROC rows shrunk or deleted (the engine's returns, and OpenEMR's fee
  sheet editing an AUTO_PROC row) in the movement ledger as RETURN (or ISSUE when a
  row grows). The engine's inserts are ledgered by the reconcile itself, one INSERT ...
  SELECT for all its rows (``ConsumptionRepository.insert_sales``, issue 21: no per-row
  unit-cost subquery), so the insert observer keeps its name with an empty body: an
  upgraded install's old body is replaced by ``migrate`` and never ledgers twice.
  Rows the stock commands write themselves (purchases, transfers, adjustments) carry no
  AUTO_PROC selector and are ledgered by the commands.
* Guards of the ledger table (NOT fail-safe: refusing is their job): any UPDATE or
  DELETE of ``aesthetic_inventory_stock_ledger`` fails with SQLSTATE 45000.

They are installed, checked and dropped by the one installer
(:mod:`aesthetic_inventory.install.triggers`), which lists this module.
"""

from __future__ import annotations

from ..install.trigger_spec import TriggerSpec
from .usable import lot_cost_sql, product_stock_join_sql

LEDGER_TABLE = "aesthetic_inventory_stock_ledger"

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

TRIGGERS: tuple[TriggerSpec, ...] = (
    # Ledgered by the reconcile (see the module docstring): nothing left to do per row.
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_stock_ai",
        table="drug_sales",
        event="AFTER INSERT",
        body="",
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
    TriggerSpec(
        name="aesthetic_inventory_stock_ledger_bu",
        table=LEDGER_TABLE,
        event="BEFORE UPDATE",
        body="SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = "
        "'aesthetic_inventory_stock_ledger is append-only: rows cannot be updated';",
        fail_safe=False,
    ),
    TriggerSpec(
        name="aesthetic_inventory_stock_ledger_bd",
        table=LEDGER_TABLE,
        event="BEFORE DELETE",
        body="SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = "
        "'aesthetic_inventory_stock_ledger is append-only: rows cannot be deleted';",
        fail_safe=False,
    ),
)
