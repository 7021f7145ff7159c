-- Issue 21 (fast at any size). Additive indexes only: nothing here changes a row or
-- a column of OpenEMR's, so OpenEMR's writes and a dump's restore are unaffected.

-- The reconcile's lot snapshot reads each product's usable lots per warehouse in
-- sellDrug's order (expiration, lot_number, inventory_id) with a LIMIT: this index
-- hands them over in that order, so the read stops after the lots the sale needs
-- instead of sorting every lot of the product (InnoDB appends inventory_id).
#IfNotIndex drug_inventory aesthetic_inventory_fefo
CREATE INDEX `aesthetic_inventory_fefo` ON `drug_inventory` (`drug_id`, `warehouse_id`, `expiration`, `lot_number`);
#EndIf
