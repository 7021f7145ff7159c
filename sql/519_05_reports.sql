-- Aesthetic Inventory 519_05: indexes for the read-only views (issue 10).
--
-- OpenEMR's drug_sales has only its primary key. Every period report (activity,
-- usage, the stock view's 90-day use) filters drug_sales by sale_date, and recall
-- and the activity report join it to lots by inventory_id; without these indexes
-- each of them reads the whole ledger (measured in docs/benchmarks.md).

#IfNotIndex drug_sales aesthetic_inventory_sale_date
CREATE INDEX `aesthetic_inventory_sale_date` ON `drug_sales` (`sale_date`);
#EndIf

#IfNotIndex drug_sales aesthetic_inventory_lot
CREATE INDEX `aesthetic_inventory_lot` ON `drug_sales` (`inventory_id`);
#EndIf
