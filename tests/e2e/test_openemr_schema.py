"""migrate, status and the sample data on the FULL real OpenEMR schema."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dbtools
import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import load_sample, migrate
from aesthetic_inventory.resources import sql_dir
from click.testing import CliRunner
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

pytestmark = pytest.mark.e2e
NEW_COLUMNS = {"aesthetic_category", "photo_url", "unit_cost", "supplier_name"}


@pytest.fixture(scope="module")
def oe_engine(openemr_db_url: str) -> Iterator[Engine]:
    eng = create_db_engine(openemr_db_url)
    yield eng
    eng.dispose()


def _snapshot(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as conn:
        cols = conn.execute(
            text(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, COLUMN_DEFAULT FROM "
                "information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2"
            )
        ).all()
        idx = conn.execute(
            text(
                "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM "
                "information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() ORDER BY 1, 2, 3"
            )
        ).all()
        rows = tuple(
            conn.execute(text(f"SELECT COUNT(*) FROM `{t}`")).scalar_one()
            for t in ("background_services", "modules", "procedure_products", "drugs", "version")
        )
    return tuple(map(tuple, cols)), tuple(map(tuple, idx)), rows


def _columns(conn: object, table: str) -> set[str]:
    return {
        r[0]
        for r in conn.execute(  # type: ignore[attr-defined]
            text(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table},
        )
    }


def test_migrate_real_schema_then_second_run_changes_nothing(oe_engine: Engine) -> None:
    report = migrate(oe_engine)
    assert any(f.name == "518_00_core.sql" for f in report.files)
    with oe_engine.connect() as conn:
        assert _columns(conn, "drugs") >= NEW_COLUMNS
        assert _columns(conn, "drug_inventory") >= NEW_COLUMNS
        unique = (
            conn.execute(
                text(
                    "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX) FROM "
                    "information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND "
                    "TABLE_NAME = 'procedure_products' AND NON_UNIQUE = 0 "
                    "AND INDEX_NAME <> 'PRIMARY' "
                    "GROUP BY INDEX_NAME"
                )
            )
            .scalars()
            .all()
        )
        assert unique == ["code_type,code,drug_id"]
        fk = conn.execute(
            text(
                "SELECT r.REFERENCED_TABLE_NAME, r.DELETE_RULE, k.COLUMN_NAME FROM "
                "information_schema.REFERENTIAL_CONSTRAINTS r JOIN "
                "information_schema.KEY_COLUMN_USAGE k ON k.CONSTRAINT_SCHEMA = "
                "r.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME "
                "WHERE r.CONSTRAINT_SCHEMA = DATABASE() AND r.TABLE_NAME = 'procedure_products'"
            )
        ).all()
        assert [tuple(r) for r in fk] == [("drugs", "CASCADE", "drug_id")]
        svc = conn.execute(
            text(
                "SELECT active, running, execute_interval, sort_order FROM background_services "
                "WHERE name = 'AestheticInventoryAlerts'"
            )
        ).one()
        assert tuple(svc) == (1, 0, 1440, 110)
        assert conn.execute(text("SELECT v_database FROM version")).scalar_one() == 517
    before = _snapshot(oe_engine)
    again = migrate(oe_engine)
    assert again.files == ()
    assert _snapshot(oe_engine) == before


def test_status_json_on_real_schema(openemr_db_url: str, oe_engine: Engine) -> None:
    migrate(oe_engine)
    result = CliRunner().invoke(main, ["--database-url", openemr_db_url, "status", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["pending"] == [] and data["module_version"] == "518"
    assert data["openemr_database_version"] == 517


def test_sample_twice_with_client_and_once_with_load_sample(
    openemr_db_url: str, oe_engine: Engine, mysql_server: dbtools.ServerInfo
) -> None:
    migrate(oe_engine)
    database = make_url(openemr_db_url).database
    assert database
    sample = sql_dir() / "aesthetic_inventory_sample_data.sql"
    mysql_server.load_with_client(database, sample, init_command="SET SESSION sql_mode=''")
    mysql_server.load_with_client(database, sample)
    load_sample(oe_engine)
    with oe_engine.connect() as conn:
        counts = [
            conn.execute(text(q)).scalar_one()
            for q in (
                "SELECT COUNT(*) FROM drugs",
                "SELECT COUNT(*) FROM drug_inventory",
                "SELECT COUNT(*) FROM codes WHERE code_type = 1 "
                "AND code IN ('15828', '11950', '15788')",
                "SELECT COUNT(*) FROM procedure_products",
                "SELECT COUNT(*) FROM drug_sales WHERE trans_type = 2",
            )
        ]
    assert counts == [3, 3, 3, 3, 3]
