"""The harness itself: databases on a real server, in their initial state for each test."""

from __future__ import annotations

import dbtools
from sqlalchemy import text
from sqlalchemy.engine import Engine


def test_fixture_database_has_openemr_core_tables(engine: Engine) -> None:
    with engine.connect() as conn:
        tables = {row[0] for row in conn.execute(text("SHOW TABLES"))}
        version = conn.execute(text("SELECT v_database FROM version")).scalar()
    assert {"drugs", "drug_inventory", "drug_sales", "billing", "codes"} <= tables
    assert version == 517


def test_each_test_gets_its_own_database(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO drugs (name) VALUES ('only here')"))
        assert conn.execute(text("SELECT COUNT(*) FROM drugs")).scalar() == 1


def test_statement_counter_sees_statements(engine: Engine) -> None:
    with dbtools.count_statements(engine) as log, engine.begin() as conn:
        conn.execute(text("SELECT 1"))
        conn.execute(text("UPDATE drugs SET name = name WHERE drug_id = 0"))
    assert log.count >= 2
    assert len(log.writes) == 1

