"""Sample data: idempotent through the client and load-sample; consistent ledger."""

from __future__ import annotations

import dbtools
import pytest
from aesthetic_inventory.install.service import load_sample
from aesthetic_inventory.migrations.runner import SchemaNotMigratedError
from aesthetic_inventory.resources import sql_dir
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

SAMPLE = sql_dir() / "aesthetic_inventory_sample_data.sql"


def _counts(engine: Engine) -> dict[str, int]:
    queries = {
        "drugs": "SELECT COUNT(*) FROM drugs",
        "lots": "SELECT COUNT(*) FROM drug_inventory",
        "receipts": "SELECT COUNT(*) FROM drug_sales WHERE trans_type = 2",
        "codes": "SELECT COUNT(*) FROM codes WHERE code_type = 1",
        "mappings": "SELECT COUNT(*) FROM procedure_products",
    }
    with engine.connect() as conn:
        return {k: int(conn.execute(text(q)).scalar_one()) for k, q in queries.items()}


def test_load_sample_twice_is_idempotent_and_consistent(migrated_engine: Engine) -> None:
    first = load_sample(migrated_engine)
    assert any("inserted 1 row(s) into drugs" in s.message for s in first.steps)
    second = load_sample(migrated_engine)
    assert all("inserted 0 row(s)" in s.message for s in second.steps)
    assert _counts(migrated_engine) == {
        "drugs": 3,
        "lots": 3,
        "receipts": 3,
        "codes": 3,
        "mappings": 3,
    }
    with migrated_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.name, d.aesthetic_category, d.unit_cost, d.supplier_name, d.photo_url, "
                "i.expiration > CURDATE(), i.warehouse_id, "
                "i.on_hand + (SELECT SUM(quantity) FROM drug_sales s "
                "             WHERE s.inventory_id = i.inventory_id), "
                "p.code_type, p.code, p.quantity, i.supplier_name "
                "FROM drugs d JOIN drug_inventory i ON i.drug_id = d.drug_id "
                "JOIN procedure_products p ON p.drug_id = d.drug_id ORDER BY d.name"
            )
        ).all()
    assert [r[0] for r in rows] == [
        "Botox Cosmetic 100U",
        "Hyaluronic Acid Filler 1mL",
        "Medical Grade Peel Kit",
    ]
    assert [r[9] for r in rows] == ["15828", "11950", "15788"]
    for row in rows:
        assert row[1] and row[2] > 0 and row[3] and row[4].startswith("https://")
        assert row[5] == 1 and row[6] == "onsite" and row[7] == 0
        assert row[8] == "CPT4" and row[10] == 1 and row[11] == row[3]


def test_client_load_then_load_sample(
    migrated_db_url: str, migrated_engine: Engine, mysql_server: dbtools.ServerInfo
) -> None:
    database = make_url(migrated_db_url).database
    assert database
    mysql_server.load_with_client(database, SAMPLE)
    mysql_server.load_with_client(database, SAMPLE, init_command="SET SESSION sql_mode=''")
    load_sample(migrated_engine)
    assert _counts(migrated_engine) == {
        "drugs": 3,
        "lots": 3,
        "receipts": 3,
        "codes": 3,
        "mappings": 3,
    }


def test_load_sample_refuses_unmigrated_database(engine: Engine) -> None:
    with pytest.raises(SchemaNotMigratedError, match="run 'aesthetic-inventory migrate' first"):
        load_sample(engine)
    assert _counts_unmigrated(engine) == 0


def _counts_unmigrated(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM drugs")).scalar_one())


def test_load_sample_missing_file_is_an_error(migrated_engine: Engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aesthetic_inventory.errors import MigrationError

    with pytest.raises(MigrationError, match="sample data file not found"):
        load_sample(migrated_engine, path=tmp_path / "nope.sql")
