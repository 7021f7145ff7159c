"""Migrate on the fixture schema: columns, table, rows, idempotence, dry run."""

from __future__ import annotations

import dbtools
from aesthetic_inventory.install.service import migrate, status
from aesthetic_inventory.migrations import runner
from sqlalchemy import text
from sqlalchemy.engine import Engine

NEW_COLUMNS = {"aesthetic_category", "photo_url", "unit_cost", "supplier_name"}


def _columns(engine: Engine, table: str) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t"
            ),
            {"t": table},
        )
        return {r[0] for r in rows}


def test_migrated_engine_has_core_schema(migrated_engine: Engine) -> None:
    assert _columns(migrated_engine, "drugs") >= NEW_COLUMNS
    assert _columns(migrated_engine, "drug_inventory") >= NEW_COLUMNS
    assert {"id", "code_type", "code", "drug_id", "quantity"} <= _columns(
        migrated_engine, "procedure_products"
    )
    with migrated_engine.connect() as conn:
        svc = conn.execute(
            text(
                "SELECT title, active, running, execute_interval, sort_order "
                "FROM background_services "
                "WHERE name = 'AestheticInventoryAlerts'"
            )
        ).one()
        assert tuple(svc) == ("Aesthetic Inventory Alerts", 1, 0, 1440, 110)
        mod = conn.execute(
            text(
                "SELECT mod_name, sql_version FROM modules "
                "WHERE mod_directory = 'aesthetic_inventory'"
            )
        ).one()
        assert tuple(mod) == ("AestheticInventory", "518")
        recorded = (
            conn.execute(text("SELECT name FROM aesthetic_inventory_schema_files")).scalars().all()
        )
    assert "518_00_core.sql" in recorded


def _changes(writes: list[str]) -> list[str]:
    """Writes other than the migration lock's lease row (the lock itself, issue 20:
    a row every cluster node sees, where GET_LOCK was local to one server)."""
    return [w for w in writes if "aesthetic_inventory_locks" not in w]


def test_second_migrate_writes_nothing(migrated_engine: Engine) -> None:
    with dbtools.count_statements(migrated_engine) as log:
        report = migrate(migrated_engine)
    assert report.files == ()
    assert "518_00_core.sql" in report.already_applied
    ddl = [s for s in log.statements if s.lstrip().upper().startswith(("CREATE", "ALTER", "DROP"))]
    assert _changes(log.writes) == [] and ddl == []


def test_dry_run_writes_nothing(engine: Engine) -> None:
    with dbtools.count_statements(engine) as log:
        report = migrate(engine, dry_run=True)
    assert report.dry_run and report.files
    core = next(f for f in report.files if f.name == "518_00_core.sql")
    assert all(s.message.startswith("would run") for s in core.steps)
    assert _changes(log.writes) == []
    assert "aesthetic_inventory_schema_files" not in {t for t in _tables(engine)}
    assert "photo_url" not in _columns(engine, "drugs")


def _tables(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(
            conn.execute(
                text(
                    "SELECT TABLE_NAME FROM information_schema.TABLES "
                    "WHERE TABLE_SCHEMA = DATABASE()"
                )
            ).scalars()
        )


def test_status_reports_pending_then_applied(engine: Engine) -> None:
    before = status(engine)
    assert "518_00_core.sql" in before.pending and before.module_version is None
    assert before.openemr_version == "7.0.4" and before.openemr_database_version == 517
    migrate(engine)
    after = status(engine)
    assert after.pending == () and "518_00_core.sql" in after.applied
    assert after.module_version == "518"
    assert after.service is not None and after.service["active"] == 1
    assert after.as_dict()["pending"] == []


def test_runner_discovers_only_upgrade_files() -> None:
    names = [f.name for f in runner.discover()]
    assert names[0] == "518_00_core.sql"
    assert names == sorted(names)
    assert "aesthetic_inventory_sample_data.sql" not in names


def test_migrate_and_sample_under_openemr_empty_sql_mode(fixture_db_url: str) -> None:
    from aesthetic_inventory.db import create_db_engine
    from aesthetic_inventory.install.service import load_sample

    eng = create_db_engine(fixture_db_url, connect_args={"init_command": "SET SESSION sql_mode=''"})
    try:
        with eng.connect() as conn:
            assert conn.execute(text("SELECT @@SESSION.sql_mode")).scalar() == ""
        report = migrate(eng)
        assert any(f.name == "518_00_core.sql" for f in report.files)
        load_sample(eng)
        assert _columns(eng, "drugs") >= NEW_COLUMNS
        with eng.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM procedure_products")).scalar() == 3
    finally:
        eng.dispose()
