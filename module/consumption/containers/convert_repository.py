"""The SQL of ``products convert`` (:mod:`.convert`): every count of a product
multiplied by its package size, in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ...db import existing_tables


class ConvertRepository:
    """SQL of a product's conversion to counting units inside one unit of work."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def visits_waiting(self, drug_id: int) -> int:
        """Queued or set-aside visits (change queue) that bill or hold the product."""
        return int(self.conn.execute(text(
            "SELECT COUNT(DISTINCT q.pid, q.encounter) FROM aesthetic_inventory_change_queue q "
            "WHERE EXISTS (SELECT 1 FROM billing b JOIN procedure_products pp "
            "ON pp.code_type = b.code_type AND pp.code = b.code AND pp.drug_id = :d "
            "WHERE b.pid = q.pid AND b.encounter = q.encounter AND b.activity = 1) "
            "OR EXISTS (SELECT 1 FROM drug_sales ds WHERE ds.pid = q.pid "
            "AND ds.encounter = q.encounter AND ds.drug_id = :d)"), {"d": drug_id}).scalar_one())

    def lock_all_lots(self, drug_id: int) -> dict[int, int]:
        """Every lot of the product (destroyed and empty too), locked in inventory_id
        order: inventory_id -> on_hand."""
        return {int(r[0]): int(r[1]) for r in self.conn.execute(text(
            "SELECT inventory_id, on_hand FROM drug_inventory WHERE drug_id = :d "
            "ORDER BY inventory_id FOR UPDATE"), {"d": drug_id})}

    def ledger_sums(self, drug_id: int) -> dict[int, int]:
        """SUM(quantity) of the module's movement ledger per lot of the product."""
        return {int(r[0]): int(r[1]) for r in self.conn.execute(text(
            "SELECT inventory_id, SUM(quantity) FROM aesthetic_inventory_stock_ledger "
            "WHERE drug_id = :d GROUP BY inventory_id"), {"d": drug_id})}

    def convert_counts(self, drug_id: int, factor: int) -> dict[str, int]:
        """Multiply every count of the product by ``factor`` and divide every per-unit
        cost by it: lots, drug_sales rows (quantities; fees are money and stay),
        mappings, usage records and their history, pending fee-sheet edits, OpenEMR's
        reorder point and levels (drugs, product_warehouse), the module's min level and
        costs (tables the schema lacks are skipped). Returns the rows changed per table."""
        p = {"d": drug_id, "f": factor}
        statements = {
            "drug_inventory": "UPDATE drug_inventory SET on_hand = on_hand * :f, "
            "unit_cost = ROUND(unit_cost / :f, 2) WHERE drug_id = :d",
            "drug_sales": "UPDATE drug_sales SET quantity = quantity * :f WHERE drug_id = :d",
            "procedure_products": "UPDATE procedure_products SET quantity = quantity * :f "
            "WHERE drug_id = :d",
            "aesthetic_inventory_usage": "UPDATE aesthetic_inventory_usage SET "
            "planned_quantity = planned_quantity * :f, required_units = required_units * :f, "
            "allocated_units = allocated_units * :f, shortage_units = shortage_units * :f, "
            "actual_quantity = actual_quantity * :f WHERE drug_id = :d",
            "aesthetic_inventory_usage_history": "UPDATE aesthetic_inventory_usage_history SET "
            "planned_quantity = planned_quantity * :f, old_actual = old_actual * :f, "
            "new_actual = new_actual * :f WHERE drug_id = :d",
            "aesthetic_inventory_fee_sheet_edits": "UPDATE aesthetic_inventory_fee_sheet_edits "
            "e JOIN drug_sales ds ON ds.sale_id = e.sale_id SET "
            "e.old_quantity = e.old_quantity * :f, e.new_quantity = e.new_quantity * :f "
            "WHERE ds.drug_id = :d",
            "drugs": "UPDATE drugs SET reorder_point = reorder_point * :f, "
            "max_level = max_level * :f, unit_cost = ROUND(unit_cost / :f, 2) "
            "WHERE drug_id = :d",
            "product_warehouse": "UPDATE product_warehouse SET pw_min_level = pw_min_level * :f, "
            "pw_max_level = pw_max_level * :f WHERE pw_drug_id = :d",
            "aesthetic_inventory_product_stock": "UPDATE aesthetic_inventory_product_stock SET "
            "min_level = min_level * :f, average_cost = average_cost / :f, "
            "last_cost = last_cost / :f WHERE drug_id = :d",
        }
        present = existing_tables(self.conn, statements)  # product_warehouse is optional
        return {table: int(self.conn.execute(text(sql), p).rowcount or 0)
                for table, sql in statements.items() if table in present}

    def set_package(self, drug_id: int, *, package_size: int, counting_unit: str,
                    package_unit: str) -> None:
        self.conn.execute(text(
            "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
            "counting_unit, package_unit) VALUES (:d, :n, :u, :p) ON DUPLICATE KEY UPDATE "
            "units_per_package = VALUES(units_per_package), "
            "counting_unit = VALUES(counting_unit), package_unit = VALUES(package_unit)"),
            {"d": drug_id, "n": package_size, "u": counting_unit, "p": package_unit})
