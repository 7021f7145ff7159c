"""A.6: module columns compared with OpenEMR columns take that column's charset and
collation at migrate time; consume and the alert scan work on every site collation,
and an existing install with a mismatched column is repaired by migrate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aesthetic_inventory.db import create_db_engine
from clinic import Clinic
from install_helpers import cli, scalar, sql

SITES = [
    ("utf8mb4", "utf8mb4_general_ci"),
    ("utf8mb4", "utf8mb4_unicode_ci"),
    ("utf8mb4", "utf8mb4_german2_ci"),
    ("utf8mb3", "utf8mb3_general_ci"),
    ("latin1", "latin1_swedish_ci"),
]


@pytest.fixture(params=SITES, ids=[c for _, c in SITES])
def site_url(request: pytest.FixtureRequest, mysql_server) -> Iterator[str]:
    with mysql_server.fixture_site("coll", *request.param) as url:
        yield url


def collation_of(url: str, table: str, column: str) -> str:
    return str(
        scalar(
            url,
            "SELECT COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
            f"DATABASE() AND TABLE_NAME = '{table}' AND COLUMN_NAME = '{column}'",
        )
    )


def consume_and_scan(url: str) -> Clinic:
    engine = create_db_engine(url)
    clinic = Clinic(engine)
    drug = clinic.add_drug("Botox Cosmetic 100U")
    clinic.add_lot(drug, 3, lot_number="Lot-é1")
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 5)  # 3 taken, 2 short: the shortage alert has a row
    code, out, err = cli("--database-url", url, "consume", "--pid", "1", "--encounter", "100")
    assert code == 0, err
    assert "took 3 from lot" in out
    code, out, err = cli("--database-url", url, "sync", "--since", "2020-01-01")
    assert code == 0, err
    code, out, err = cli("--database-url", url, "alerts", "run")
    assert code == 0, err
    assert "need attention" in out and "shortage" in out.lower()
    engine.dispose()
    return clinic


def test_consume_and_alert_scan_on_every_site_collation(site_url: str) -> None:
    code, out, err = cli("--database-url", site_url, "migrate")
    assert code == 0, err
    billing = collation_of(site_url, "billing", "code")
    for table in ("procedure_products", "aesthetic_inventory_usage"):
        assert collation_of(site_url, table, "code") == billing
        assert collation_of(site_url, table, "code_type") == billing
    assert collation_of(site_url, "aesthetic_inventory_service_claims", "name") == (
        collation_of(site_url, "background_services", "name")
    )
    clinic = consume_and_scan(site_url)
    assert clinic.held(1, 100) == 3
    code, out, _ = cli("--database-url", site_url, "doctor")
    assert "[ok  ] collations" in out


def test_existing_install_with_a_mismatched_column_is_repaired(mysql_server) -> None:
    name = mysql_server.create_database("coll", collation="utf8mb4_unicode_ci")
    mysql_server.load_fixture_schema(name)
    url = mysql_server.database_url(name)
    try:
        assert cli("--database-url", url, "migrate")[0] == 0
        # what a 518 install left: procedure_products with its own utf8mb4_general_ci
        sql(url, "ALTER TABLE procedure_products MODIFY code varchar(64) CHARACTER SET utf8mb4 "
            "COLLATE utf8mb4_general_ci NOT NULL DEFAULT ''")
        engine = create_db_engine(url)
        clinic = Clinic(engine)
        drug = clinic.add_drug("Botox")
        clinic.add_lot(drug, 3)
        clinic.add_mapping("15828", drug)
        clinic.add_visit(1, 100)
        clinic.add_line(1, 100, "15828", 1)
        code, _, err = cli("--database-url", url, "consume", "--pid", "1", "--encounter", "100")
        assert code == 1 and "1267" in err  # illegal mix of collations, as reproduced
        code, out, _ = cli("--database-url", url, "doctor")
        assert code == 1 and (
            "procedure_products.code is utf8mb4_general_ci, billing.code is utf8mb4_unicode_ci"
            in out
        )
        code, out, _ = cli("--database-url", url, "migrate")
        assert code == 0 and "collation: procedure_products.code is utf8mb4_general_ci" in out
        assert collation_of(url, "procedure_products", "code") == "utf8mb4_unicode_ci"
        assert scalar(url, "SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE "
                      "TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'procedure_products' "
                      "AND COLUMN_NAME = 'code'") == "''"
        code, out, err = cli("--database-url", url, "consume", "--pid", "1", "--encounter", "100")
        assert code == 0 and "took 1 from lot" in out, err
        engine.dispose()
    finally:
        mysql_server.drop_database(name)
