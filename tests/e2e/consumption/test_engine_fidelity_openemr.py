"""On the REAL OpenEMR schema: a lot whose expiration OpenEMR's PHP stored as
'0000-00-00' (empty sql_mode) is skipped as sellDrug skips it, by ``consume`` and by
``alerts run``, and a receipt written the way the lot screen writes it queues the
product for the shortage back-fill."""

from __future__ import annotations

from datetime import date

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from click.testing import CliRunner
from sqlalchemy import text

pytestmark = pytest.mark.e2e


def test_zero_date_lot_on_the_real_schema(openemr_db_url: str) -> None:
    engine = create_db_engine(openemr_db_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(text("SET SESSION sql_mode = ''"))
            drug = conn.execute(text(
                "INSERT INTO drugs (name, allow_combining, dispensable, active, reorder_point) "
                "VALUES ('Zero date', 1, 1, 1, 0)")).lastrowid
            conn.execute(text(
                "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) VALUES (:d, 'Z', '0000-00-00', 5, '')"), {"d": drug})
            good = conn.execute(text(
                "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) VALUES (:d, 'G', '2099-01-01', 5, '')"), {"d": drug}).lastrowid
            conn.execute(text(
                "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, user, "
                "sale_date, quantity, fee, trans_type) VALUES (:d, :i, 0, 0, 'admin', "
                "CURDATE(), -5, -10, 2)"), {"d": drug, "i": good})
            conn.execute(text(
                "INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
                "VALUES ('CPT4', 'ZD1', :d, 1)"), {"d": drug})
            conn.execute(text(
                "INSERT INTO form_encounter (date, reason, pid, encounter) "
                "VALUES (:t, 'e2e', 77, 7701)"), {"t": date.today()})
            conn.execute(text(
                "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
                "authorized, encounter, code_text, billed, activity, units, fee) VALUES "
                "(NOW(), 'CPT4', 'ZD1', 77, 1, NULL, 'Default', 1, 7701, 'x', 0, 1, 2, 0)"))
            queued = conn.execute(text(
                "SELECT COUNT(*) FROM aesthetic_inventory_stock_queue WHERE drug_id = :d"),
                {"d": drug}).scalar()
        assert queued == 1  # the purchase row queued the product
        runner = CliRunner()
        run = runner.invoke(main, ["--database-url", openemr_db_url, "consume",
                                   "--pid", "77", "--encounter", "7701"])
        assert run.exit_code == 0, run.output
        assert "took 2 from lot G" in run.output
        run = runner.invoke(main, ["--database-url", openemr_db_url, "alerts", "run",
                                   "--dry-run"])
        assert "Traceback" not in run.output and run.exit_code in (0, 1), run.output
    finally:
        engine.dispose()
