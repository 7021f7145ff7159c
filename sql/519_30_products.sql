-- Aesthetic Inventory for OpenEMR: database version 519, products and GS1 scanning
-- (issues 18 and 19). A product's counting unit and package (units_per_package stays the
-- package size), its beyond-use time once opened, its reconstitution volume, whether a
-- container serves one patient only; and the GTINs printed on its packages, so a GS1
-- scan finds the product.

#IfMissingColumn aesthetic_inventory_product_stock counting_unit
ALTER TABLE `aesthetic_inventory_product_stock`
  ADD COLUMN `counting_unit` varchar(31) NOT NULL DEFAULT '' COMMENT 'e.g. U, syringe, 0.1 mL; empty = counted as OpenEMR counts';
#EndIf

#IfMissingColumn aesthetic_inventory_product_stock package_unit
ALTER TABLE `aesthetic_inventory_product_stock`
  ADD COLUMN `package_unit` varchar(31) NOT NULL DEFAULT '' COMMENT 'e.g. vial, box; empty = package';
#EndIf

#IfMissingColumn aesthetic_inventory_product_stock beyond_use_hours
ALTER TABLE `aesthetic_inventory_product_stock`
  ADD COLUMN `beyond_use_hours` int(11) DEFAULT NULL COMMENT 'hours a container may be used once opened';
#EndIf

#IfMissingColumn aesthetic_inventory_product_stock diluent_ml
ALTER TABLE `aesthetic_inventory_product_stock`
  ADD COLUMN `diluent_ml` decimal(8,3) DEFAULT NULL COMMENT 'reconstitution volume per package';
#EndIf

#IfMissingColumn aesthetic_inventory_product_stock single_patient
ALTER TABLE `aesthetic_inventory_product_stock`
  ADD COLUMN `single_patient` tinyint(1) NOT NULL DEFAULT 0 COMMENT '1 = a container serves one visit';
#EndIf

-- GTINs (AI 01 of a GS1 barcode, as 14 digits) of each product; several per product
#IfNotTable aesthetic_inventory_product_gtin
CREATE TABLE `aesthetic_inventory_product_gtin` (
  `gtin` char(14) NOT NULL,
  `drug_id` int(11) NOT NULL,
  `created_at` datetime NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (`gtin`),
  KEY `drug_id` (`drug_id`)
) ENGINE=InnoDB;
#EndIf
