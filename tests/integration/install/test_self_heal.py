"""A.3: migrate verifies the installed state, not only the applied-files record."""

from __future__ import annotations

from aesthetic_inventory.install.billing_triggers import TRIGGERS as BILLING
from aesthetic_inventory.install.trigger_spec import TriggerSpec
from aesthetic_inventory.install.triggers import NEEDS_INSTALL, check_triggers, ensure_triggers
from aesthetic_inventory.migrations import runner
from install_helpers import billing_write, cli, scalar, sql
from sqlalchemy.engine import Engine

# The 518 trigger as sites have it: one statement, no handler, no stamp.
LEGACY_AI = (
    "CREATE TRIGGER aesthetic_inventory_billing_ai AFTER INSERT ON billing FOR EACH ROW "
    "INSERT INTO aesthetic_inventory_change_queue (pid, encounter, queued_at) "
    "VALUES (COALESCE(NEW.pid, 0), COALESCE(NEW.encounter, 0), NOW(6))"
)


def table_exists(url: str, table: str) -> bool:
    return bool(
        scalar(
            url,
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
            f"AND TABLE_NAME = '{table}'",
        )
    )


def damage(url: str) -> None:
    sql(
        url,
        "DROP TABLE aesthetic_inventory_usage",
        "DROP TABLE aesthetic_inventory_change_queue",
        "DROP TRIGGER aesthetic_inventory_billing_ad",
        "DROP TRIGGER aesthetic_inventory_billing_ai",
        LEGACY_AI,
        "DELETE FROM background_services WHERE name = 'AestheticInventoryAlerts'",
        "DELETE FROM modules WHERE mod_directory = 'aesthetic_inventory'",
        "DROP INDEX aesthetic_inventory_visit ON drug_sales",
        "ALTER TABLE drugs DROP COLUMN unit_cost",
    )


def test_migrate_repairs_everything_while_every_file_is_recorded(migrated_db_url: str) -> None:
    files = len(runner.discover())
    damage(migrated_db_url)
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM aesthetic_inventory_schema_files") == files

    code, out, _ = cli("--database-url", migrated_db_url, "migrate", "--dry-run")
    assert code == 0
    for needle in (
        "table aesthetic_inventory_usage is missing",
        "table aesthetic_inventory_change_queue is missing",
        "row background_services(name='AestheticInventoryAlerts') is missing",
        "row modules(mod_directory='aesthetic_inventory') is missing",
        "index drug_sales.aesthetic_inventory_visit is missing",
        "column drugs.unit_cost is missing",
    ):
        assert needle in out
    assert "(dry run)" in out and "nothing was written" in out
    assert not table_exists(migrated_db_url, "aesthetic_inventory_usage")  # dry run wrote nothing

    code, out, _ = cli("--database-url", migrated_db_url, "migrate")
    assert code == 0, out
    assert "upgrade file(s) are applied." in out and "Repaired " in out
    assert f"all {files} upgrade file(s)" in out
    # a later file's column on the re-created table is added again (files in order)
    assert "column aesthetic_inventory_change_queue.attempts is missing" in out
    assert "created aesthetic_inventory_billing_ad" in out
    assert "re-created aesthetic_inventory_billing_ai" in out  # the legacy body was outdated
    assert table_exists(migrated_db_url, "aesthetic_inventory_usage")
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM background_services "
                  "WHERE name = 'AestheticInventoryAlerts'") == 1
    assert scalar(migrated_db_url, "SELECT sql_version FROM modules "
                  "WHERE mod_directory = 'aesthetic_inventory'") == "518"
    assert billing_write(migrated_db_url) == 3

    code, out, _ = cli("--database-url", migrated_db_url, "migrate")
    assert "Nothing to do" in out and "Repaired" not in out
    code, out, _ = cli("--database-url", migrated_db_url, "doctor")
    assert code == 0, out


def test_outdated_trigger_is_found_by_its_body(migrated_engine: Engine) -> None:
    spec = BILLING[0]
    changed = TriggerSpec(spec.name, spec.table, spec.event, spec.body + " DO 1;", spec.requires)
    assert changed.version != spec.version
    with migrated_engine.connect() as conn:
        conn.exec_driver_sql(spec.drop_sql())
        conn.exec_driver_sql(changed.create_sql())
        states = {c.spec.name: c.state for c in check_triggers(conn)}
        assert states[spec.name] == "outdated" and "outdated" in NEEDS_INSTALL
        report = ensure_triggers(conn)
        assert report.replaced == (spec.name,) and report.created == ()
        assert {c.state for c in check_triggers(conn)} == {"ok"}
