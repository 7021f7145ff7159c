"""Issue 17 B and F on the REAL OpenEMR schema: one typo cannot drain stock.

* an actual far above the plan (more than 3x and more than 2 packages) needs ``--confirm``;
* an actual can never exceed what the visit holds plus usable stock (no shortage that
  would take the next delivery);
* an expired lot named as the one used needs ``--confirm``;
* ``--user`` must be an active OpenEMR user;
* ``usage show`` counts usable stock as ``stock`` does (expired units do not count);
* the stock movement a nurse's actual causes is the nurse's in the movement ledger.

Each refusal is one line, exit code 1, and changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from aesthetic_inventory.consumption.batch import drain_change_queue
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import load_sample, migrate
from click.testing import Result
from clinic import Clinic
from dbtools import uows
from sqlalchemy.engine import Engine

# the statements as OpenEMR's PHP runs them, reads and the CLI: as the usage done-when test
from test_usage_openemr import cli, php, q

pytestmark = pytest.mark.e2e
SERVICE = "aesthetic-inventory"
PID = 913


@pytest.fixture(scope="module")
def oe(openemr_db_url: str) -> Iterator[tuple[Engine, str]]:
    engine = create_db_engine(openemr_db_url)
    migrate(engine)
    load_sample(engine)  # Botox Cosmetic 100U: lot BTX-24A117, 6 units; CPT4 15828 -> 1
    # a bigger delivery, so every test of this module finds Botox on the shelf
    php(engine, "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) SELECT drug_id, 'BTX-BIG', :x, 40, 'onsite' FROM drugs "
                "WHERE name = 'Botox Cosmetic 100U'", {"x": date.today() + timedelta(days=400)})
    php(engine, "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, trans_type) "
                "SELECT drug_id, inventory_id, CURDATE(), -40, 2 FROM drug_inventory "
                "WHERE lot_number = 'BTX-BIG'")
    clinic = Clinic(engine)
    clinic.install_default_acl()
    clinic.add_openemr_user("nurse1", ["clin"], password=None, password_hash="x")
    clinic.add_openemr_user("gone", ["clin"], password=None, password_hash="x")
    php(engine, "UPDATE users SET active = 0 WHERE username = 'gone'")
    yield engine, openemr_db_url
    engine.dispose()


def visit(engine: Engine, enc: int, units: int) -> None:
    """A visit billed ``units`` x CPT4 15828 (1 Botox each), reconciled by the worker."""
    php(engine, "INSERT INTO form_encounter (date, reason, pid, encounter) "
                "VALUES (CURDATE(), 'guard', :p, :e)", {"p": PID, "e": enc})
    php(engine, "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
                "authorized, encounter, code_text, billed, activity, units, fee, modifier, "
                "justify, ndc_info, pricelevel, revenue_code) VALUES (NOW(), 'CPT4', '15828', "
                ":p, 1, NULL, 'Default', 1, :e, 'x', 0, 1, :u, 600.00, '', '', '', '', '')",
        {"p": PID, "e": enc, "u": units})
    drain_change_queue(uows(engine), service_username=SERVICE)


def state(engine: Engine, enc: int) -> tuple:
    """Everything a refused record must leave alone."""
    return (
        q(engine, "SELECT inventory_id, on_hand FROM drug_inventory ORDER BY inventory_id"),
        q(engine, "SELECT sale_id, quantity FROM drug_sales WHERE encounter = :e "
                  "ORDER BY sale_id", {"e": enc}),
        q(engine, "SELECT actual_quantity, shortage_units FROM aesthetic_inventory_usage "
                  "WHERE encounter = :e", {"e": enc}),
        q(engine, "SELECT COUNT(*) FROM aesthetic_inventory_usage_history"),
        q(engine, "SELECT COUNT(*) FROM aesthetic_inventory_stock_ledger"),
    )


def record(url: str, enc: int, actual: str, *extra: str, user: str = "nurse1") -> Result:
    return cli(url, "usage", "record", "--pid", str(PID), "--encounter", str(enc),
               "--code", "CPT4:15828", "--actual", actual, "--reason", "OTHER",
               "--user", user, *extra)


def botox_usable(engine: Engine) -> int:
    return int(q(engine, "SELECT COALESCE(SUM(on_hand), 0) FROM drug_inventory di JOIN drugs d "
                         "ON d.drug_id = di.drug_id WHERE d.name = 'Botox Cosmetic 100U' "
                         "AND di.destroy_date IS NULL AND di.on_hand > 0 "
                         "AND (di.expiration IS NULL OR di.expiration > CURDATE())")[0][0])


def test_a_typo_needs_confirmation_and_cannot_take_what_is_not_there(
    oe: tuple[Engine, str],
) -> None:
    engine, url = oe
    visit(engine, 9301, 1)
    before = state(engine, 9301)

    typo = record(url, 9301, "5000")  # meant 5
    assert typo.exit_code == 1
    assert "more than 3x the plan (1)" in typo.output and "--confirm" in typo.output
    assert len(typo.output.strip().splitlines()) == 1
    assert state(engine, 9301) == before

    confirmed = record(url, 9301, "5000", "--confirm")  # still impossible
    assert confirmed.exit_code == 1
    assert "nobody can have used what was not there" in confirmed.output
    assert "aesthetic-inventory count" in confirmed.output
    assert state(engine, 9301) == before  # no shortage waits for the next delivery

    exponent = record(url, 9301, "1e5", "--confirm")
    assert exponent.exit_code == 1 and state(engine, 9301) == before


def test_an_actual_above_stock_never_becomes_a_shortage(oe: tuple[Engine, str]) -> None:
    engine, url = oe
    visit(engine, 9302, 2)  # plan 2: takes 2 of what is left
    usable = botox_usable(engine)
    before = state(engine, 9302)
    too_many = str(2 + usable + 1)  # one more than the visit holds plus the shelf
    refused = record(url, 9302, too_many, "--confirm")
    assert refused.exit_code == 1
    assert f"({2 + usable})" in refused.output  # what it could cover
    assert state(engine, 9302) == before
    # what the shelf holds is fine (and 3x the plan of 2 is 6: no confirmation needed
    # for 3)
    ok = record(url, 9302, "3", "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["stockAdjustments"][0]["adjustment"] == 1


def test_an_expired_lot_named_needs_confirmation(oe: tuple[Engine, str]) -> None:
    engine, url = oe
    php(engine, "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) SELECT drug_id, 'BTX-OLD', :x, 3, 'onsite' FROM drugs "
                "WHERE name = 'Botox Cosmetic 100U'", {"x": date.today() - timedelta(days=3)})
    php(engine, "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, trans_type) "
                "SELECT drug_id, inventory_id, CURDATE(), -3, 2 FROM drug_inventory "
                "WHERE lot_number = 'BTX-OLD'")
    visit(engine, 9303, 1)
    before = state(engine, 9303)
    refused = record(url, 9303, "1", "--lot", "BTX-OLD")
    assert refused.exit_code == 1 and "lot BTX-OLD is expired" in refused.output
    assert state(engine, 9303) == before
    confirmed = record(url, 9303, "1", "--lot", "BTX-OLD", "--confirm")
    assert confirmed.exit_code == 0, confirmed.output
    held = q(engine, "SELECT di.lot_number FROM drug_sales s JOIN drug_inventory di "
                     "ON di.inventory_id = s.inventory_id WHERE s.encounter = 9303")
    assert held == [("BTX-OLD",)]


@pytest.mark.parametrize("user", ["nobody-here", "gone"])
def test_the_recorder_must_be_an_active_openemr_user(oe: tuple[Engine, str], user: str) -> None:
    engine, url = oe
    enc = 9304 if user == "gone" else 9305
    visit(engine, enc, 1)
    before = state(engine, enc)
    refused = record(url, enc, "1", user=user)
    assert refused.exit_code == 1
    assert f"user '{user}' is not an active OpenEMR user" in refused.output
    assert state(engine, enc) == before


def test_usage_show_counts_usable_stock_as_stock_does(oe: tuple[Engine, str]) -> None:
    engine, url = oe
    visit(engine, 9306, 1)
    shown = json.loads(cli(url, "usage", "show", "--pid", str(PID), "--encounter", "9306",
                           "--json").output)
    [material] = shown["materials"]
    stock = json.loads(cli(url, "stock", "--product", "Botox Cosmetic 100U",
                           "--format", "json").output)
    expired_units = int(q(engine, "SELECT COALESCE(SUM(on_hand), 0) FROM drug_inventory "
                                  "WHERE lot_number = 'BTX-OLD'")[0][0])
    assert expired_units > 0  # the expired lot is still on the shelf
    assert material["currentStock"] == botox_usable(engine)
    assert str(material["currentStock"]) in json.dumps(stock)


def test_the_movement_of_a_recorded_actual_is_the_nurses(oe: tuple[Engine, str]) -> None:
    engine, url = oe
    visit(engine, 9307, 1)  # billed with no billing user: the service's name
    ok = record(url, 9307, "2", "--confirm")
    assert ok.exit_code == 0, ok.output
    users = q(engine, "SELECT movement, user FROM aesthetic_inventory_stock_ledger "
                      "WHERE reference_id = :r ORDER BY id", {"r": f"{PID}.9307"})
    assert users[0] == ("ISSUE", SERVICE)  # the plan, taken when the fee sheet was saved
    assert users[-1] == ("ISSUE", "nurse1")  # the second unit: the nurse's actual
