"""Issue 17 G: the seal chain over the movement ledger. The service's job seals rows
older than the margin (never younger ones, whose transaction may be open), the chain
links every seal, migrate seals too, and a ledger that no longer matches is never
sealed over."""

from __future__ import annotations

import dbtools
from aesthetic_inventory.install.ledger_repository import LedgerSealRepository
from aesthetic_inventory.install.ledger_seal import chain_of, seal_ledger, verify_ledger
from aesthetic_inventory.jobs.ledger_seal import run_ledger_seal_job
from install_helpers import cli, sql
from sqlalchemy.engine import Engine

LEDGER = "aesthetic_inventory_stock_ledger"


def movements(url: str, n: int, minutes_ago: int) -> None:
    for _ in range(n):
        sql(url, f"INSERT INTO {LEDGER} (movement, inventory_id, drug_id, quantity, user, "
                 f"created_at) VALUES ('RECEIVE', 1, 1, 5, 'oe', "
                 f"NOW(6) - INTERVAL {minutes_ago} MINUTE)")


def test_the_job_seals_rows_past_the_margin_and_chains_them(
    migrated_db_url: str, migrated_engine: Engine
) -> None:
    app = dbtools.make_app(migrated_db_url)
    assert run_ledger_seal_job(app).message == "sealed through id 0; nothing new"
    movements(migrated_db_url, 3, minutes_ago=30)
    movements(migrated_db_url, 2, minutes_ago=0)  # too young to seal
    first = run_ledger_seal_job(app)
    assert first.sealed and first.message.startswith("sealed 3 ledger row(s) through id ")
    movements(migrated_db_url, 1, minutes_ago=10)
    assert run_ledger_seal_job(app).message.startswith("sealed 6 ledger row(s)")
    with migrated_engine.connect() as conn:
        seals = LedgerSealRepository(conn).seals()
        verdict = verify_ledger(conn)
    assert [s.row_count for s in seals] == [3, 6]
    assert seals[1].chain == chain_of(seals[0].chain, seals[1].through_id, 6, seals[1].digest)
    assert verdict.problems == () and verdict.sealed_rows == 6 and verdict.newer_rows == 0

    code, out, _ = cli("--database-url", migrated_db_url, "doctor")
    assert code == 0 and "[ok  ] ledger seal: 6 row(s) through id" in out


def test_a_changed_ledger_is_never_sealed_over(
    migrated_db_url: str, migrated_engine: Engine
) -> None:
    movements(migrated_db_url, 2, minutes_ago=30)
    code, out, _ = cli("--database-url", migrated_db_url, "migrate")
    assert code == 0 and "ledger: sealed 2 ledger row(s) through id" in out
    sql(migrated_db_url, "DROP TRIGGER aesthetic_inventory_stock_ledger_bd",
        f"DELETE FROM {LEDGER} ORDER BY id DESC LIMIT 1")
    movements(migrated_db_url, 1, minutes_ago=30)
    with migrated_engine.connect() as conn:
        outcome = seal_ledger(conn, sealed_by="test")
        assert not outcome.sealed
        assert outcome.message.endswith("now 1: 1 row(s) deleted or truncated away")
        assert len(LedgerSealRepository(conn).seals()) == 1
    code, out, _ = cli("--database-url", migrated_db_url, "doctor")
    assert code == 1 and "[FAIL] ledger seal: the movement ledger went backwards" in out
    code, out, _ = cli("--database-url", migrated_db_url, "migrate")
    assert "created aesthetic_inventory_stock_ledger_bd" in out  # the guard is back
    assert "ledger: sealed" not in out
