"""Checks a command makes before it moves stock (the CLI composes them: the
consumption engine itself depends on no install code)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from ..db import connect, existing_tables, require_innodb, require_openemr
from ..install.service import SchemaNotMigratedError, require_migrated

CONSUMPTION_TABLES = (
    "aesthetic_inventory_usage", "aesthetic_inventory_change_queue",
    "aesthetic_inventory_stock_queue",
    # 519_20: a reconcile reads recorded actuals and fee-sheet edits
    "aesthetic_inventory_fee_sheet_edits", "aesthetic_inventory_usage_history",
)


def preflight(engine: Engine) -> None:
    """Before moving stock: an OpenEMR database, migrated, whose stock tables are InnoDB
    (MyISAM ignores transactions and row locks; SPEC section 2)."""
    with connect(engine) as conn:
        require_openemr(conn)
        require_migrated(conn)
        if len(existing_tables(conn, CONSUMPTION_TABLES)) < len(CONSUMPTION_TABLES):
            raise SchemaNotMigratedError(
                "the consumption tables are missing: run 'aesthetic-inventory migrate'"
            )
        require_innodb(conn)
