"""A.5 uninstall: plan without --yes, triggers first, tables unless --keep-data, service
and module rows; AUTO_PROC sales and the product columns stay."""

from __future__ import annotations

from aesthetic_inventory.install.triggers import all_triggers
from clinic import Clinic
from install_helpers import BILLING_INSERT, cli, scalar, sql


def state(url: str) -> tuple[object, ...]:
    """(triggers, module tables, module indexes on OpenEMR tables, service row, module row)"""
    return (
        scalar(url, "SELECT COUNT(*) FROM information_schema.TRIGGERS "
               "WHERE TRIGGER_SCHEMA = DATABASE()"),
        scalar(url, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
               "DATABASE() AND (TABLE_NAME LIKE 'aesthetic%' "
               "OR TABLE_NAME = 'procedure_products')"),
        scalar(url, "SELECT COUNT(DISTINCT TABLE_NAME, INDEX_NAME) "
               "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
               "AND INDEX_NAME LIKE 'aesthetic%' AND TABLE_NAME NOT LIKE 'aesthetic%'"),
        scalar(url, "SELECT COUNT(*) FROM background_services "
               "WHERE name = 'AestheticInventoryAlerts'"),
        scalar(url, "SELECT COUNT(*) FROM modules WHERE mod_directory = 'aesthetic_inventory'"),
    )


def seed_sale(clinic: Clinic) -> None:
    drug = clinic.add_drug("Botox")
    clinic.add_lot(drug, 10)
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 2)


def test_without_yes_prints_the_plan_and_changes_nothing(migrated_db_url: str) -> None:
    before = state(migrated_db_url)
    triggers = len(all_triggers())
    assert before[0] == triggers and before[1] >= 7 and before[2] >= 4 and before[3:] == (1, 1)
    for extra in ([], ["--dry-run"], ["--dry-run", "--yes"]):
        code, out, _ = cli("--database-url", migrated_db_url, "uninstall", *extra)
        assert code == 0
        lines = out.splitlines()
        assert lines[0] == "plan: drop trigger aesthetic_inventory_billing_ad"
        assert lines[triggers] == "plan: drop table procedure_products"
        assert "plan: drop table procedure_products" in lines
        assert "plan: delete background_services row AestheticInventoryAlerts" in lines
        assert lines[-1].startswith("Nothing was changed; run with --yes")
        assert state(migrated_db_url) == before


def test_yes_removes_the_module_and_keeps_openemrs_ledger(
    clinic: Clinic, migrated_db_url: str
) -> None:
    seed_sale(clinic)
    code, _, err = cli("--database-url", migrated_db_url, "sync")
    assert code == 0, err
    sales = clinic.rows("SELECT sale_id, quantity, selector FROM drug_sales "
                        "WHERE selector LIKE 'AUTO_PROC:%'")
    assert len(sales) == 1
    code, out, _ = cli("--database-url", migrated_db_url, "uninstall", "--yes")
    assert code == 0
    lines = out.splitlines()
    n = len(all_triggers())
    assert all(line.startswith("done: drop trigger") for line in lines[:n])  # triggers first
    assert state(migrated_db_url) == (0, 0, 0, 0, 0)
    assert clinic.rows("SELECT sale_id, quantity, selector FROM drug_sales "
                       "WHERE selector LIKE 'AUTO_PROC:%'") == sales
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE "
                  "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'drugs' AND COLUMN_NAME IN "
                  "('aesthetic_category', 'photo_url', 'unit_cost', 'supplier_name')") == 4
    sql(migrated_db_url, BILLING_INSERT)  # OpenEMR's fee sheet still saves
    code, out, _ = cli("--database-url", migrated_db_url, "uninstall")
    assert out.strip() == "Nothing to remove: the module is not installed in this database."


def test_keep_data_keeps_tables_and_migrate_reinstalls(
    clinic: Clinic, migrated_db_url: str
) -> None:
    seed_sale(clinic)
    before = state(migrated_db_url)
    code, out, _ = cli("--database-url", migrated_db_url, "uninstall", "--yes", "--keep-data")
    assert code == 0 and "drop table" not in out and "the module tables stay" in out
    assert state(migrated_db_url) == (0, before[1], 0, 0, 0)
    assert clinic.scalar("SELECT COUNT(*) FROM procedure_products") == 1
    code, out, _ = cli("--database-url", migrated_db_url, "migrate")
    assert code == 0 and "Repaired" in out
    assert state(migrated_db_url) == before
