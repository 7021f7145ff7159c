"""The runner on a real database: every condition, error paths, re-runs, checksums."""

from __future__ import annotations

import shutil
from pathlib import Path

import dbtools
import pytest
from aesthetic_inventory.errors import (
    ChecksumMismatchError,
    MigrationError,
    NotOpenEMRError,
    UnsupportedEngineError,
)
from aesthetic_inventory.install.service import migrate, status
from aesthetic_inventory.migrations import runner
from aesthetic_inventory.migrations.directives import parse_sql
from aesthetic_inventory.resources import sql_dir
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


def _eval(conn: Connection, directive: str) -> bool:
    parsed = parse_sql(f"{directive}\nSELECT 1;\n#EndIf\n", "t.sql")
    condition = parsed.blocks[0].condition
    assert condition is not None
    return runner.evaluate(conn, condition)[0]


@pytest.mark.parametrize(
    ("directive", "expected"),
    [
        ("#IfNotTable drugs", False),
        ("#IfNotTable nope", True),
        ("#IfTable drugs", True),
        ("#IfTable nope", False),
        ("#IfColumn drugs name", True),
        ("#IfColumn drugs nope", False),
        ("#IfColumn nope name", False),
        ("#IfMissingColumn drugs nope", True),
        ("#IfMissingColumn drugs name", False),
        ("#IfMissingColumn nope name", False),  # false when the table is missing
        ("#IfNotIndex codes code_type", False),
        ("#IfNotIndex codes nope", True),
        ("#IfIndex codes code_type", True),
        ("#IfIndex codes nope", False),
        ("#IfNotRow code_types ct_key CPT4", False),
        ("#IfNotRow code_types ct_key NOPE", True),
        ("#IfRow code_types ct_key 'CPT4'", True),
        ("#IfRow code_types ct_key NOPE", False),
        ("#IfRow nope c v", False),
        ("#IfRow code_types ct_label CPT4 Procedure/Service", True),
        ("#IfNotRow2D list_options list_id warehouse option_id onsite", False),
        ("#IfNotRow2D list_options list_id warehouse option_id elsewhere", True),
        ("#IfNotRow3D list_options list_id warehouse option_id onsite seq 5", False),
        ("#IfNotRow3D list_options list_id warehouse option_id onsite seq 6", True),
        ("#IfNotColumnType drugs name varchar(255)", False),
        ("#IfNotColumnType drugs name VARCHAR(255)", False),
        ("#IfNotColumnType drugs name varchar(100)", True),
        ("#IfNotColumnType drugs drug_id int", False),  # display width ignored
        ("#IfNotColumnType drugs nope int", False),
    ],
)
def test_condition_evaluation(engine: Engine, directive: str, expected: bool) -> None:
    with engine.connect() as conn:
        assert _eval(conn, directive) is expected


def test_row_value_is_a_bound_parameter(engine: Engine) -> None:
    with engine.connect() as conn, dbtools.count_statements(engine) as log:
        assert _eval(conn, "#IfNotRow code_types ct_key x' OR '1'='1") is True
    selects = [s for s in log.statements if "FROM `code_types`" in s]
    assert selects and all("OR" not in s for s in selects)


def _write(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body)
    return path


@pytest.fixture
def sql_copy(tmp_path: Path) -> Path:
    """A copy of the shipped upgrade files that a test may change."""
    for f in runner.discover():
        shutil.copy(f.path, tmp_path / f.name)
    return tmp_path


GOOD = """-- test file
#IfNotTable aesthetic_inventory_t1
CREATE TABLE aesthetic_inventory_t1 (id int NOT NULL PRIMARY KEY, v varchar(20)) ENGINE=InnoDB;
#EndIf
#IfNotRow aesthetic_inventory_t1 id 1
INSERT INTO aesthetic_inventory_t1 VALUES (1, 'a:b 50%');
#EndIf
"""


def test_sql_error_names_file_line_statement_and_rerun_after_fix_completes(
    engine: Engine, sql_copy: Path
) -> None:
    broken = GOOD + (
        "#IfMissingColumn aesthetic_inventory_t1 w\n"
        "ALTER TABLE aesthetic_inventory_t1 ADD COLUMN w int NOT NULL DEFAULT 0;\n"
        "#EndIf\n"
        "#IfNotRow aesthetic_inventory_t1 id 2\n"
        "INSERT INTO aesthetic_inventory_t1 (id, nope) VALUES (2, 1);\n"
        "#EndIf\n"
    )
    _write(sql_copy, "999_00_test.sql", broken)
    with pytest.raises(MigrationError) as info:
        migrate(engine, directory=sql_copy)
    err = info.value
    assert err.filename == "999_00_test.sql" and err.line == 12
    assert "INSERT INTO aesthetic_inventory_t1 (id, nope)" in str(err)
    assert "Unknown column" in str(err)
    assert "999_00_test.sql" in status(engine, directory=sql_copy).pending

    _write(sql_copy, "999_00_test.sql", broken.replace("(id, nope)", "(id, w)"))
    report = migrate(engine, directory=sql_copy)
    (test_file,) = [f for f in report.files if f.name == "999_00_test.sql"]
    messages = [s.message for s in test_file.steps]
    assert messages[0].startswith("skipped: table aesthetic_inventory_t1 exists")
    assert messages[1].startswith("skipped: row")
    assert messages[2].startswith("skipped: column aesthetic_inventory_t1.w exists")
    assert messages[3] == "inserted 1 row(s) into aesthetic_inventory_t1"
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, v, w FROM aesthetic_inventory_t1 ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, "a:b 50%", 0), (2, None, 1)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("#IfSomething t\nSELECT 1;\n#EndIf\n", "unknown directive"),
        ("#IfNotTable t\nSELECT 1;\n", "not closed with #EndIf"),
    ],
)
def test_malformed_file_stops_before_any_write(
    engine: Engine, sql_copy: Path, body: str, message: str
) -> None:
    _write(sql_copy, "999_00_bad.sql", body)
    with pytest.raises(MigrationError, match=message) as info:
        migrate(engine, directory=sql_copy)
    assert info.value.filename == "999_00_bad.sql" and info.value.line == 1
    st = status(engine, directory=sql_copy)
    assert st.applied == () and "518_00_core.sql" in st.pending  # nothing applied
    _write(sql_copy, "999_00_bad.sql", "#IfNotTable t\n#EndIf\n")
    migrate(engine, directory=sql_copy)
    assert status(engine, directory=sql_copy).pending == ()


def test_changed_checksum_is_reported_and_refused(engine: Engine, sql_copy: Path) -> None:
    _write(sql_copy, "999_00_test.sql", GOOD)
    migrate(engine, directory=sql_copy)
    _write(sql_copy, "999_00_test.sql", GOOD + "-- edited after it was applied\n")
    st = status(engine, directory=sql_copy)
    assert st.changed == ("999_00_test.sql",)
    with pytest.raises(ChecksumMismatchError, match="999_00_test.sql"):
        migrate(engine, directory=sql_copy)


def test_non_openemr_database_refused_nothing_written(
    mysql_server: dbtools.ServerInfo,
) -> None:
    from aesthetic_inventory.db import create_db_engine

    name = mysql_server.create_database("plain")
    eng = create_db_engine(mysql_server.database_url(name))
    try:
        with pytest.raises(NotOpenEMRError, match="missing tables"):
            migrate(eng)
        with eng.connect() as conn:
            tables = conn.execute(
                text("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = :d"),
                {"d": name},
            ).scalar_one()
        assert tables == 0
    finally:
        eng.dispose()
        mysql_server.drop_database(name)


def test_myisam_stock_table_refused(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.exec_driver_sql("ALTER TABLE drug_sales ENGINE=MyISAM")
    with pytest.raises(UnsupportedEngineError, match="drug_sales"):
        migrate(engine)
    with engine.connect() as conn:
        assert "photo_url" not in {
            r[0]
            for r in conn.execute(
                text(
                    "SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'drugs'"
                )
            )
        }


def _snapshot(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as conn:
        cols = conn.execute(
            text(
                "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
                "ORDER BY TABLE_NAME, ORDINAL_POSITION"
            )
        ).all()
        idx = conn.execute(
            text(
                "SELECT TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME "
                "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() "
                "ORDER BY 1, 2, 3"
            )
        ).all()
        counts = tuple(
            conn.execute(text(f"SELECT COUNT(*) FROM `{t}`")).scalar_one()
            for t in (
                "drugs",
                "drug_inventory",
                "background_services",
                "modules",
                "procedure_products",
                "aesthetic_inventory_schema_files",
            )
        )
    return tuple(map(tuple, cols)), tuple(map(tuple, idx)), counts


def test_second_migrate_changes_no_column_index_or_row(migrated_engine: Engine) -> None:
    before = _snapshot(migrated_engine)
    migrate(migrated_engine)
    assert _snapshot(migrated_engine) == before


def test_shipped_upgrade_files_parse() -> None:
    for f in runner.discover(sql_dir()):
        assert parse_sql(f.text, f.name).statements


def test_concurrent_migrations_are_serialised(engine: Engine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda _: migrate(engine), range(2)))
    applied = sorted(len(r.files) for r in reports)
    assert applied[0] == 0 and applied[1] >= 1  # one did the work, the other found it done
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM aesthetic_inventory_schema_files")).scalars()
        assert "518_00_core.sql" in list(names)
