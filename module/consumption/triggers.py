"""A trigger on ``drug_sales`` that queues a product when stock arrives in one of its lots.

An open shortage (``aesthetic_inventory_usage.shortage_units``) is filled as soon as
stock arrives. OpenEMR's lot screen (``add_edit_lot.php``) writes every arrival as a
``drug_sales`` row with a negative quantity on the lot (purchase/receipt, transfer in,
adjustment up), and so do the module's own stock commands; the new-lot form is a
purchase row too. So one ``AFTER INSERT`` trigger on ``drug_sales`` sees every arrival
and puts the product in ``aesthetic_inventory_stock_queue``; the service's queue
worker reconciles the visits short of it, oldest first.

Why not a trigger on ``drug_inventory``: any ``UPDATE`` trigger on that table makes
the server drop the ``LAST_INSERT_ID(expr)`` that the engine's lock-by-update check
reads from the UPDATE's reply (measured on MariaDB 10.11), so the engine must not put
one there. A stock change written without a sale row (an expiration corrected by
hand) is still found by ``sync`` and the sweep.

The body is fail-safe (:class:`TriggerSpec`): a missing queue table never fails
OpenEMR's own write. The insert id OpenEMR reads after its INSERT is not touched (a
trigger's own AUTO_INCREMENT is restored when it ends).
"""

from __future__ import annotations

from ..trigger_spec import TriggerSpec

STOCK_QUEUE_TABLE = "aesthetic_inventory_stock_queue"

TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(
        name="aesthetic_inventory_drug_sales_ai",
        table="drug_sales",
        event="AFTER INSERT",
        # a negative quantity on a lot is stock coming in; sales (positive) queue nothing
        body=(
            "IF NEW.quantity < 0 AND NEW.inventory_id > 0 THEN "
            f"INSERT INTO {STOCK_QUEUE_TABLE} (drug_id, queued_at) "
            "VALUES (NEW.drug_id, NOW(6)); END IF;"
        ),
        requires=(STOCK_QUEUE_TABLE,),
    ),
)
