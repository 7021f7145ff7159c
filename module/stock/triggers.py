"""Triggers of the stock package.

* ``drug_sales`` observers (fail-safe, like every trigger on an OpenEMR table): they
  record the consumption engine's AUTO_PROC movements in the movement ledger (an
  inserted row = ISSUE, a shrunk or deleted one = RETURN) without adding a statement to
  the reconcile. The engine's writes and these inserts share one transaction. Rows
  the stock commands write themselves (purchases, transfers, adjustments) carry no
  AUTO_PROC selector and are ledgered by the commands.
* Guards of the ledger table (NOT fail-safe: refusing is their job): any UPDATE or
  DELETE of ``aesthetic_inventory_stock_ledger`` fails with SQLSTATE 45000.

Until the shared installer registry (``install.triggers.ALL_TRIGGERS``) takes over,
:func:`install` is called at the end of ``install.service.migrate``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..db import existing_tables, mysql_error_code
from ..install.trigger_spec import TriggerSpec

LEDGER_TABLE = "aesthetic_inventory_stock_ledger"
_PRIVILEGE_ERRORS = frozenset({1044, 1142, 1227, 1370, 1419, 1465})

_INSERT = (
    f"INSERT INTO {LEDGER_TABLE} (movement, inventory_id, drug_id, quantity, unit_cost, "
    "reference_type, reference_id, sale_id, user, notes) "
)


def _observe(row: str, movement: str, quantity: str, condition: str) -> str:
    # IF ... INSERT ... VALUES: no INSERT ... SELECT (cheaper per row); the unit cost is
    # the lot's at the time of the movement (518's drug_inventory.unit_cost)
    return (
        f"IF {condition} THEN "
        + _INSERT
        + f"VALUES ('{movement}', {row}.inventory_id, {row}.drug_id, {quantity}, "
        f"COALESCE((SELECT di.unit_cost FROM drug_inventory di "
        f"WHERE di.inventory_id = {row}.inventory_id), 0), "
        f"'visit', CONCAT({row}.pid, '.', {row}.encounter), {row}.sale_id, "
        f"COALESCE({row}.user, ''), {row}.selector); END IF;"
    )


_AUTO = "{r}.selector LIKE 'AUTO_PROC:%' AND {r}.inventory_id > 0"

TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_stock_ai",
        table="drug_sales",
        event="AFTER INSERT",
        body=_observe("NEW", "ISSUE", "-NEW.quantity",
                      _AUTO.format(r="NEW") + " AND NEW.quantity <> 0"),
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


@dataclass(frozen=True)
class StockTriggerReport:
    created: tuple[str, ...]
    present: tuple[str, ...]
    message: str = ""


def _installed(conn: Connection) -> dict[str, str]:
    rows = conn.execute(text(
        "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME LIKE 'aesthetic\\_inventory\\_%'"
    ))
    return {str(r[0]): str(r[1]) for r in rows}


def install(conn: Connection, *, dry_run: bool = False) -> StockTriggerReport:
    """Create the stock triggers that are missing or outdated (their version stamp
    differs). Without the TRIGGER privilege the observers are left out and the report
    says so; nothing else fails (the ledger then lacks AUTO_PROC movements)."""
    if not existing_tables(conn, [LEDGER_TABLE]):
        return StockTriggerReport((), (), "stock ledger table missing")
    installed = _installed(conn)
    created: list[str] = []
    present: list[str] = []
    for spec in TRIGGERS:
        body = installed.get(spec.name)
        if body is not None and spec.stamp in body:
            present.append(spec.name)
            continue
        if dry_run:
            created.append(spec.name)
            continue
        try:
            if body is not None:
                conn.exec_driver_sql(spec.drop_sql())
            conn.exec_driver_sql(spec.create_sql().replace("%", "%%"))  # driver formatting
        except DBAPIError as exc:
            if mysql_error_code(exc) in _PRIVILEGE_ERRORS:
                return StockTriggerReport(
                    tuple(created), tuple(present),
                    "no TRIGGER privilege: the stock ledger does not record AUTO_PROC "
                    "movements and is not write-protected")
            raise
        created.append(spec.name)
    return StockTriggerReport(tuple(created), tuple(present))
