-- Aesthetic Inventory: cheaper reads of open containers (issue 18: a containered
-- consume within 1.2x of a plain one). Additive indexes on the module's own tables
-- only: nothing here changes a row or a column of OpenEMR's.

-- What a container has given out is the sum of its draw rows (the one record of what
-- was drawn). Every read of a container's units left sums them per container: with
-- the units in the index the sum is read from the index alone.
#IfNotIndex aesthetic_inventory_container_draw container_units
CREATE INDEX `container_units` ON `aesthetic_inventory_container_draw` (`container_id`, `units`);
#EndIf
