"""The service's sweep-mode fallback: without billing triggers, OpenEMR's own
fee-sheet saves are reconciled by a periodic sweep; with triggers it stays idle."""

from __future__ import annotations

from datetime import date

from aesthetic_inventory.bootstrap import build_app
from aesthetic_inventory.install import triggers
from aesthetic_inventory.jobs.change_queue import run_sweep_fallback_job
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine


def _seed(clinic: Clinic) -> int:
    drug = clinic.add_drug("Botox")
    lot = clinic.add_lot(drug, 10, lot_number="B1")
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 100, visit_date=date.today())
    return lot


def test_sweep_job_reconciles_php_saves_when_triggers_are_missing(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str
) -> None:
    lot = _seed(clinic)
    with migrated_engine.begin() as conn:
        for name in triggers.TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name}"))
    clinic.add_line(1, 100, "15828", 3)  # plain SQL, as OpenEMR's fee sheet writes it
    app = build_app(database_url=migrated_db_url, environ={})
    try:
        result = run_sweep_fallback_job(app)
        assert result is not None and result.visits == 1 and result.changed == 1
        assert clinic.on_hand(lot) == 7
        assert clinic.held(1, 100) == 3
        # a second pass finds nothing to change
        again = run_sweep_fallback_job(app)
        assert again is not None and again.changed == 0
        assert clinic.on_hand(lot) == 7
    finally:
        app.close()
    assert all(balance == 0 for balance in clinic.ledgers().values())


def test_sweep_job_is_idle_while_triggers_queue_changes(
    clinic: Clinic, migrated_engine: Engine, migrated_db_url: str
) -> None:
    lot = _seed(clinic)
    clinic.add_line(1, 100, "15828", 3)
    app = build_app(database_url=migrated_db_url, environ={})
    try:
        assert run_sweep_fallback_job(app) is None
    finally:
        app.close()
    # the visit waits in the queue for the drain job; the sweep did not touch stock
    assert clinic.on_hand(lot) == 10
    assert clinic.scalar("SELECT COUNT(*) FROM aesthetic_inventory_change_queue") >= 1
