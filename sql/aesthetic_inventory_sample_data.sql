-- Aesthetic Inventory sample data: three products, one lot each, their receipts in
-- the drug_sales ledger, three CPT4 codes and one procedure_products mapping each.
--
-- Plain SQL, idempotent: every INSERT is INSERT ... SELECT ... WHERE NOT EXISTS, so it
-- can be loaded any number of times with the plain client
--   mysql -u root -p openemr < sql/aesthetic_inventory_sample_data.sql
-- or with `aesthetic-inventory load-sample`. Requires the 518 upgrade (migrate) first.
-- Lot expirations are relative to the load date. Each lot's receipt is a purchase row
-- (trans_type 2, negative quantity, pid 0), so on_hand + SUM(drug_sales.quantity) = 0.

-- Botox Cosmetic 100U
INSERT INTO `drugs` (`name`, `form`, `reorder_point`, `max_level`, `active`, `allow_combining`, `dispensable`, `aesthetic_category`, `unit_cost`, `supplier_name`, `photo_url`)
SELECT 'Botox Cosmetic 100U', 'vial', 5, 20, 1, 1, 1, 'Neurotoxin', 420.00, 'Allergan Aesthetics', 'https://assets.example.org/aesthetic-inventory/botox-cosmetic-100u.jpg'
FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `drugs` WHERE `name` = 'Botox Cosmetic 100U');

INSERT INTO `drug_inventory` (`drug_id`, `lot_number`, `expiration`, `manufacturer`, `on_hand`, `warehouse_id`, `aesthetic_category`, `unit_cost`, `supplier_name`, `photo_url`)
SELECT d.`drug_id`, 'BTX-24A117', CURDATE() + INTERVAL 180 DAY, 'Allergan', 6, 'onsite', 'Neurotoxin', 420.00, 'Allergan Aesthetics', 'https://assets.example.org/aesthetic-inventory/botox-cosmetic-100u.jpg'
FROM `drugs` d
WHERE d.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Botox Cosmetic 100U')
  AND NOT EXISTS (SELECT 1 FROM `drug_inventory` i WHERE i.`drug_id` = d.`drug_id` AND i.`lot_number` = 'BTX-24A117');

INSERT INTO `drug_sales` (`drug_id`, `inventory_id`, `prescription_id`, `pid`, `encounter`, `user`, `sale_date`, `quantity`, `fee`, `billed`, `notes`, `selector`, `trans_type`)
SELECT i.`drug_id`, i.`inventory_id`, 0, 0, 0, 'admin', CURDATE(), -6, -6 * 420.00, 0, 'Aesthetic Inventory sample data: initial receipt', '', 2
FROM `drug_inventory` i
WHERE i.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Botox Cosmetic 100U')
  AND i.`lot_number` = 'BTX-24A117'
  AND NOT EXISTS (SELECT 1 FROM `drug_sales` s WHERE s.`inventory_id` = i.`inventory_id` AND s.`trans_type` = 2);

INSERT INTO `codes` (`code_text`, `code_text_short`, `code`, `code_type`, `modifier`, `units`, `fee`, `active`)
SELECT 'Rhytidectomy; cheek, chin, and neck', 'Facelift cheek/chin/neck', '15828', 1, '', 1, 600.00, 1
FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `codes` WHERE `code_type` = 1 AND `code` = '15828' AND `modifier` = '');

INSERT INTO `procedure_products` (`code_type`, `code`, `drug_id`, `quantity`)
SELECT 'CPT4', '15828', d.`drug_id`, 1
FROM `drugs` d
WHERE d.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Botox Cosmetic 100U')
  AND NOT EXISTS (SELECT 1 FROM `procedure_products` p WHERE p.`code_type` = 'CPT4' AND p.`code` = '15828' AND p.`drug_id` = d.`drug_id`);

-- Hyaluronic Acid Filler 1mL
INSERT INTO `drugs` (`name`, `form`, `reorder_point`, `max_level`, `active`, `allow_combining`, `dispensable`, `aesthetic_category`, `unit_cost`, `supplier_name`, `photo_url`)
SELECT 'Hyaluronic Acid Filler 1mL', 'syringe', 4, 30, 1, 1, 1, 'Dermal Filler', 310.00, 'Galderma Aesthetics', 'https://assets.example.org/aesthetic-inventory/ha-filler-1ml.jpg'
FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `drugs` WHERE `name` = 'Hyaluronic Acid Filler 1mL');

INSERT INTO `drug_inventory` (`drug_id`, `lot_number`, `expiration`, `manufacturer`, `on_hand`, `warehouse_id`, `aesthetic_category`, `unit_cost`, `supplier_name`, `photo_url`)
SELECT d.`drug_id`, 'HAF-24B305', CURDATE() + INTERVAL 365 DAY, 'Galderma', 24, 'onsite', 'Dermal Filler', 310.00, 'Galderma Aesthetics', 'https://assets.example.org/aesthetic-inventory/ha-filler-1ml.jpg'
FROM `drugs` d
WHERE d.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Hyaluronic Acid Filler 1mL')
  AND NOT EXISTS (SELECT 1 FROM `drug_inventory` i WHERE i.`drug_id` = d.`drug_id` AND i.`lot_number` = 'HAF-24B305');

INSERT INTO `drug_sales` (`drug_id`, `inventory_id`, `prescription_id`, `pid`, `encounter`, `user`, `sale_date`, `quantity`, `fee`, `billed`, `notes`, `selector`, `trans_type`)
SELECT i.`drug_id`, i.`inventory_id`, 0, 0, 0, 'admin', CURDATE(), -24, -24 * 310.00, 0, 'Aesthetic Inventory sample data: initial receipt', '', 2
FROM `drug_inventory` i
WHERE i.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Hyaluronic Acid Filler 1mL')
  AND i.`lot_number` = 'HAF-24B305'
  AND NOT EXISTS (SELECT 1 FROM `drug_sales` s WHERE s.`inventory_id` = i.`inventory_id` AND s.`trans_type` = 2);

INSERT INTO `codes` (`code_text`, `code_text_short`, `code`, `code_type`, `modifier`, `units`, `fee`, `active`)
SELECT 'Subcutaneous injection of filling material (eg, collagen); 1 cc or less', 'Filler injection 1 cc or less', '11950', 1, '', 1, 750.00, 1
FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `codes` WHERE `code_type` = 1 AND `code` = '11950' AND `modifier` = '');

INSERT INTO `procedure_products` (`code_type`, `code`, `drug_id`, `quantity`)
SELECT 'CPT4', '11950', d.`drug_id`, 1
FROM `drugs` d
WHERE d.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Hyaluronic Acid Filler 1mL')
  AND NOT EXISTS (SELECT 1 FROM `procedure_products` p WHERE p.`code_type` = 'CPT4' AND p.`code` = '11950' AND p.`drug_id` = d.`drug_id`);

-- Medical Grade Peel Kit
INSERT INTO `drugs` (`name`, `form`, `reorder_point`, `max_level`, `active`, `allow_combining`, `dispensable`, `aesthetic_category`, `unit_cost`, `supplier_name`, `photo_url`)
SELECT 'Medical Grade Peel Kit', 'kit', 3, 15, 1, 0, 1, 'Chemical Peel', 85.00, 'SkinMedica', 'https://assets.example.org/aesthetic-inventory/medical-peel-kit.jpg'
FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `drugs` WHERE `name` = 'Medical Grade Peel Kit');

INSERT INTO `drug_inventory` (`drug_id`, `lot_number`, `expiration`, `manufacturer`, `on_hand`, `warehouse_id`, `aesthetic_category`, `unit_cost`, `supplier_name`, `photo_url`)
SELECT d.`drug_id`, 'PEEL-24C042', CURDATE() + INTERVAL 270 DAY, 'SkinMedica', 15, 'onsite', 'Chemical Peel', 85.00, 'SkinMedica', 'https://assets.example.org/aesthetic-inventory/medical-peel-kit.jpg'
FROM `drugs` d
WHERE d.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Medical Grade Peel Kit')
  AND NOT EXISTS (SELECT 1 FROM `drug_inventory` i WHERE i.`drug_id` = d.`drug_id` AND i.`lot_number` = 'PEEL-24C042');

INSERT INTO `drug_sales` (`drug_id`, `inventory_id`, `prescription_id`, `pid`, `encounter`, `user`, `sale_date`, `quantity`, `fee`, `billed`, `notes`, `selector`, `trans_type`)
SELECT i.`drug_id`, i.`inventory_id`, 0, 0, 0, 'admin', CURDATE(), -15, -15 * 85.00, 0, 'Aesthetic Inventory sample data: initial receipt', '', 2
FROM `drug_inventory` i
WHERE i.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Medical Grade Peel Kit')
  AND i.`lot_number` = 'PEEL-24C042'
  AND NOT EXISTS (SELECT 1 FROM `drug_sales` s WHERE s.`inventory_id` = i.`inventory_id` AND s.`trans_type` = 2);

INSERT INTO `codes` (`code_text`, `code_text_short`, `code`, `code_type`, `modifier`, `units`, `fee`, `active`)
SELECT 'Chemical peel, facial; epidermal', 'Chemical peel facial epidermal', '15788', 1, '', 1, 150.00, 1
FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM `codes` WHERE `code_type` = 1 AND `code` = '15788' AND `modifier` = '');

INSERT INTO `procedure_products` (`code_type`, `code`, `drug_id`, `quantity`)
SELECT 'CPT4', '15788', d.`drug_id`, 1
FROM `drugs` d
WHERE d.`drug_id` = (SELECT MIN(`drug_id`) FROM `drugs` WHERE `name` = 'Medical Grade Peel Kit')
  AND NOT EXISTS (SELECT 1 FROM `procedure_products` p WHERE p.`code_type` = 'CPT4' AND p.`code` = '15788' AND p.`drug_id` = d.`drug_id`);
