"""Issue 16's done-when, for products drawn from open vials (issue 18): the same seeded
random walk on the REAL OpenEMR schema as ``test_preview_equals_reconcile.py``, with the
sample's toxin converted to counting units (100 U vials, ``products convert``) and codes
mapped in units (100 U, 50 U and 20 U per billed unit) beside plain products. A preview
equals the reconcile that follows, per mapping; no vial is ever drawn beyond what it
held; every draw row belongs to a live sale of the vial's product."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import load_sample, migrate
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from tests.e2e.consumption.test_preview_equals_reconcile import (
    VISITS,
    php,
    q,
    receive_lot,
    walk,
)

pytestmark = pytest.mark.e2e
SEED = 18
STEPS = 100
TOXIN = "Botox Cosmetic 100U"
# 15828 and 64612 are mapped to the toxin (1 and 0.5 vial per unit: 100 U and 50 U after
# the conversion), 64615 is added at 20 U per unit; 11950 stays a plain filler.
CODES = ["15828", "64612", "64615", "64615", "11950"]


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    load_sample(engine)
    php(engine, "INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
                "SELECT 'CPT4', '64612', drug_id, 0.5 FROM drugs WHERE name = :n", {"n": TOXIN})
    php(engine, "INSERT INTO users (username, active) VALUES ('nurse', 1)")
    [(toxin,)] = q(engine, "SELECT drug_id FROM drugs WHERE name = :n", {"n": TOXIN})
    runner = CliRunner()
    for args in (["products", "convert", str(toxin), "--package-size", "100", "--unit", "U",
                  "--package-unit", "vial", "--user", "admin"],
                 ["products", "set", str(toxin), "--beyond-use-hours", "24"]):
        done = runner.invoke(main, ["--database-url", openemr_db_url, *args])
        assert done.exit_code == 0, done.output
    php(engine, "INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
                "VALUES ('CPT4', '64615', :d, 20)", {"d": toxin})
    # little toxin in stock (its lots destroyed as destroy_lot.php does, three vials
    # received), so the walk also runs short of vials
    php(engine, "UPDATE drug_inventory SET destroy_date = CURDATE(), destroy_method = 'waste' "
                "WHERE drug_id = :d", {"d": toxin})
    receive_lot(engine, random.Random(0), -1, {TOXIN: 100}, product=TOXIN, packages=3)
    for pid, enc in VISITS:
        php(engine, "INSERT INTO form_encounter (date, reason, pid, encounter) "
                    "VALUES (NOW(), 'random walk, vials', :p, :e)", {"p": pid, "e": enc})
    yield engine
    engine.dispose()


def vials_hold(engine: Engine, where: str) -> None:
    """No vial gave more than it held; every draw is of a live sale of its product."""
    over = q(engine, "SELECT c.id, c.units, c.units_wasted, COALESCE(SUM(d.units), 0) "
                     "FROM aesthetic_inventory_container c LEFT JOIN "
                     "aesthetic_inventory_container_draw d ON d.container_id = c.id "
                     "GROUP BY c.id HAVING COALESCE(SUM(d.units), 0) + c.units_wasted > c.units "
                     "OR COALESCE(SUM(d.units), 0) < 0")
    assert over == [], where
    stray = q(engine, "SELECT d.id FROM aesthetic_inventory_container_draw d JOIN "
                      "aesthetic_inventory_container c ON c.id = d.container_id LEFT JOIN "
                      "drug_sales s ON s.sale_id = d.sale_id AND s.drug_id = c.drug_id "
                      "WHERE s.sale_id IS NULL")
    assert stray == [], where


def test_preview_equals_reconcile_with_vials(oe: Engine) -> None:
    seen = walk(oe, random.Random(SEED), STEPS, CODES, {TOXIN: 100}, check=vials_hold)
    assert seen["compared"] > 3 * STEPS, seen
    assert min(seen.values()) >= 3, seen
    # the walk really drew from vials: several opened and drawn from
    [(opened, draws)] = q(oe, "SELECT (SELECT COUNT(*) FROM aesthetic_inventory_container), "
                              "(SELECT COUNT(*) FROM aesthetic_inventory_container_draw)")
    assert opened >= 2 and draws >= 3, (opened, draws)
