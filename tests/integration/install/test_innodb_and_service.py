"""A.7: the InnoDB check covers every table we lock or rely on (form_encounter,
procedure_products, module tables). C.5: service refuses an un-migrated database."""

from __future__ import annotations

import pytest
from install_helpers import cli, sql


@pytest.mark.parametrize(
    "table", ["form_encounter", "procedure_products", "aesthetic_inventory_change_queue"]
)
def test_myisam_table_is_refused_by_migrate_consume_and_doctor(
    migrated_db_url: str, table: str
) -> None:
    if table == "procedure_products":  # MyISAM has no foreign keys
        sql(migrated_db_url, "ALTER TABLE procedure_products DROP FOREIGN KEY "
            "procedure_products_drug_fk")
    sql(migrated_db_url, f"ALTER TABLE `{table}` ENGINE=MyISAM")
    code, _, err = cli("--database-url", migrated_db_url, "migrate")
    assert code == 1 and f"{table} (MyISAM)" in err and "must be InnoDB" in err
    code, _, err = cli("--database-url", migrated_db_url, "consume", "--pid", "1",
                       "--encounter", "1")
    assert code == 1 and f"{table} (MyISAM)" in err
    code, out, _ = cli("--database-url", migrated_db_url, "doctor")
    assert code == 1
    assert f"{table} is MyISAM" in out and f"fix: ALTER TABLE `{table}` ENGINE=InnoDB" in out


def test_service_refuses_an_unmigrated_database(fixture_db_url: str) -> None:
    code, out, err = cli("--database-url", fixture_db_url, "service")
    assert code == 1
    assert err.strip() == (
        "Error: the Aesthetic Inventory schema is not installed in this database: "
        "run 'aesthetic-inventory migrate' first"
    )
    code, _, err2 = cli("--database-url", fixture_db_url, "load-sample")
    assert err2 == err  # the same line as the other commands
