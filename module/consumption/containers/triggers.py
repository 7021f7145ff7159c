"""The containers package's trigger: the movement ledger's ISSUE rows of the units a
visit drew from containers.

A reconcile of a product counted in units writes its ``AUTO_PROC`` rows in one INSERT
and then one draw row per sale and container (``ContainerRepository.insert_visit_draws``,
which also checks the containers it read). Ledgering those rows in a separate
INSERT ... SELECT cost a round trip per reconcile (issue 18: a containered consume
within 1.2x of a plain one), so this trigger on the module's own draw table writes the
ISSUE row of each draw of an ``AUTO_PROC`` row, in the draw INSERT's own statement: one
movement per sale and container (a sale drawn from two vials has two, their quantities
summing to the sale's), with the lot's unit cost as every ISSUE row has it. Draws of
stock used without a patient (``use``: a Consumption row, no ``AUTO_PROC`` selector)
are ledgered by that command and skipped here. Returns are ledgered by the
``drug_sales`` observers (:mod:`aesthetic_inventory.stock.triggers`), by sale, as for
any product.

Not fail-safe: the table is the module's own and only the module inserts into it, so a
failure fails the reconcile (it is run again or set aside), never an OpenEMR write.
"""

from __future__ import annotations

from ...stock.triggers import LEDGER_TABLE
from ...stock.usable import lot_cost_sql, product_stock_join_sql
from ...trigger_spec import TriggerSpec
from .repository import DRAW

TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(
        name=f"{DRAW}_ai",
        table=DRAW,
        event="AFTER INSERT",
        body=(
            f"INSERT INTO {LEDGER_TABLE} (movement, inventory_id, drug_id, quantity, "
            "unit_cost, reference_type, reference_id, sale_id, user, notes) "
            "SELECT 'ISSUE', ds.inventory_id, ds.drug_id, -NEW.units, "
            f"COALESCE({lot_cost_sql()}, 0), 'visit', CONCAT(ds.pid, '.', ds.encounter), "
            "ds.sale_id, COALESCE(ds.user, ''), ds.selector FROM drug_sales ds "
            "LEFT JOIN drug_inventory di ON di.inventory_id = ds.inventory_id "
            f"LEFT JOIN drugs d ON d.drug_id = di.drug_id {product_stock_join_sql()} "
            "WHERE ds.sale_id = NEW.sale_id AND ds.selector LIKE 'AUTO_PROC:%' "
            "AND ds.inventory_id > 0 AND NEW.units <> 0;"
        ),
        requires=(LEDGER_TABLE,),
        fail_safe=False,
    ),
)
