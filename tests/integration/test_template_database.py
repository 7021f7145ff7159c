"""The per-session template database: after a test, the working copy is put back to
the template's state (rows, auto-increment counters), and rebuilt when its schema
changed."""

from __future__ import annotations

import dbtools
from aesthetic_inventory.db import create_db_engine
from sqlalchemy import text


def test_template_reset_restores_rows_and_counters_and_rebuilds_a_changed_schema(
    mysql_server: dbtools.ServerInfo,
) -> None:
    template = dbtools.TemplateDatabase(mysql_server, mysql_server.load_fixture_schema, "aitt")
    try:
        url = template.url()
        eng = create_db_engine(url)
        try:
            with eng.begin() as conn:
                before = conn.execute(text("SELECT COUNT(*) FROM list_options")).scalar()
                conn.execute(text("INSERT INTO drugs (name) VALUES ('a'), ('b')"))
                conn.execute(text("DELETE FROM list_options"))
            template.reset()
            # the reset ended this engine's sessions (it kills what a test left open), and
            # a pooled connection used again within a second is not pinged first
            eng.dispose()
            with eng.begin() as conn:
                assert conn.execute(text("SELECT COUNT(*) FROM drugs")).scalar() == 0
                assert conn.execute(text("SELECT COUNT(*) FROM list_options")).scalar() == before
                # the counter is back too: the next product gets the first id again
                first = conn.execute(text("INSERT INTO drugs (name) VALUES ('c')")).lastrowid
            assert first == 1 and (template.resets, template.rebuilds) == (1, 0)
            with eng.begin() as conn:
                conn.execute(text("ALTER TABLE drugs ADD COLUMN extra INT"))
        finally:
            eng.dispose()
        template.reset()
        assert template.rebuilds == 1
        eng = create_db_engine(template.url())
        try:
            with eng.connect() as conn:
                columns = {r[0] for r in conn.execute(text("SHOW COLUMNS FROM drugs"))}
                assert "extra" not in columns
                assert conn.execute(text("SELECT COUNT(*) FROM drugs")).scalar() == 0
        finally:
            eng.dispose()
    finally:
        template.drop()
