"""The sweep checks its window set-based first: visits already reconciled cost no
transaction of their own, and every kind of change is still found."""

from __future__ import annotations

from datetime import date

import dbtools
import pytest
from aesthetic_inventory.consumption.batch import sweep_visits
from aesthetic_inventory.install import triggers
from clinic import Clinic
from dbtools import uows
from sqlalchemy import text
from sqlalchemy.engine import Engine

SERVICE = "aesthetic-inventory"


@pytest.fixture
def swept(clinic: Clinic, migrated_engine: Engine) -> dict[str, int]:
    """Sweep mode (no triggers); 12 visits with two mapped lines each, all swept once."""
    with migrated_engine.begin() as conn:
        for name in triggers.TRIGGERS:
            conn.execute(text(f"DROP TRIGGER {name}"))
    botox = clinic.add_drug("Botox", allow_combining=1)
    filler = clinic.add_drug("Filler", allow_combining=1)
    ids = {
        "botox": botox,
        "filler": filler,
        "botox_lot": clinic.add_lot(botox, 500),
        "filler_lot": clinic.add_lot(filler, 500),
        "m_botox": clinic.add_mapping("15828", botox),
        "m_filler": clinic.add_mapping("11950", filler, "0.5"),
    }
    for enc in range(1, 13):
        clinic.add_visit(1, enc)
        clinic.add_line(1, enc, "15828", 2)
        clinic.add_line(1, enc, "11950", 3)
    first = sweep(migrated_engine)
    assert (first.visits, first.changed, first.checked) == (12, 12, 12)
    return ids


def sweep(engine: Engine):  # type: ignore[no-untyped-def]
    return sweep_visits(uows(engine), since=date.today(), service_username=SERVICE)


def test_sweep_of_reconciled_visits_opens_no_transaction_per_visit(
    clinic: Clinic, migrated_engine: Engine, swept: dict[str, int]
) -> None:
    with dbtools.count_statements(migrated_engine) as log:
        result = sweep(migrated_engine)
    # nothing even reached the exact check in Python: the server filter found no suspect
    assert (result.visits, result.changed, result.checked) == (0, 0, 0)
    assert log.count == 2, log.statements  # the suspect filter and the always-candidates
    assert not log.writes
    # twice as many reconciled visits: still the same two statements
    for enc in range(13, 25):
        clinic.add_visit(1, enc)
        clinic.add_line(1, enc, "15828", 1)
    assert sweep(migrated_engine).visits == 12
    with dbtools.count_statements(migrated_engine) as log:
        assert sweep(migrated_engine).visits == 0
    assert log.count == 2


@pytest.mark.parametrize(
    ("change", "params"),
    [
        ("UPDATE billing SET units = 5 WHERE encounter = 7 AND code = '15828'", {}),
        ("UPDATE billing SET activity = 0 WHERE encounter = 7 AND code = '11950'", {}),
        ("DELETE FROM billing WHERE encounter = 7 AND code = '11950'", {}),
        ("UPDATE procedure_products SET quantity = 0.6 WHERE code = '11950'", {}),
        ("UPDATE procedure_products SET drug_id = :filler WHERE code = '15828'", {}),
        ("UPDATE aesthetic_inventory_usage SET allocated_units = 0 WHERE encounter = 7", {}),
        ("DELETE FROM aesthetic_inventory_usage WHERE encounter = 7", {}),
        ("DELETE FROM drug_sales WHERE encounter = 7 AND selector LIKE 'AUTO_PROC:%'", {}),
        ("UPDATE drug_sales SET selector = CONCAT(selector, 'x') WHERE encounter = 7 "
         "AND selector LIKE 'AUTO_PROC:%' ORDER BY sale_id LIMIT 1", {}),
    ],
    ids=["units up", "line voided", "line deleted", "mapping quantity", "mapping product",
         "stale usage", "usage lost", "rows lost", "hand-edited selector"],
)
def test_every_kind_of_change_is_still_reconciled(
    clinic: Clinic, migrated_engine: Engine, swept: dict[str, int], change: str,
    params: dict[str, int],
) -> None:
    clinic.execute(change, {k: swept[k] for k in ("filler",) if ":filler" in change})
    result = sweep(migrated_engine)
    # every visit uses a changed mapping; otherwise only visit 7 changed
    expected = [(1, enc) for enc in range(1, 13)] if "procedure_products" in change else [(1, 7)]
    assert [(r.pid, r.encounter) for r in result.results] == expected
    assert all(r.writes for r in result.results)  # each had something to write
    if "drug_sales" not in change:  # deleting ledger rows by hand unbalances it by itself
        assert set(clinic.ledgers().values()) == {0}
    again = sweep(migrated_engine)
    assert (again.visits, again.changed) == (0, 0)  # settled after one sweep


def test_open_shortage_is_retried_only_when_its_product_has_stock(
    clinic: Clinic, migrated_engine: Engine, swept: dict[str, int]
) -> None:
    peel = clinic.add_drug("Peel", allow_combining=1)
    lot = clinic.add_lot(peel, 1)
    clinic.add_mapping("15780", peel)
    clinic.add_line(1, 3, "15780", 4)
    first = sweep(migrated_engine)
    assert [(r.pid, r.encounter, r.shortage) for r in first.results] == [(1, 3, 3)]
    # no stock left for the product: nothing to retry, no transaction
    with dbtools.count_statements(migrated_engine) as log:
        assert sweep(migrated_engine).visits == 0
    assert log.count == 2
    clinic.receive(lot, 5)  # stock arrives: the shortage is filled by the next sweep
    result = sweep(migrated_engine)
    assert [(r.pid, r.encounter, r.shortage) for r in result.results] == [(1, 3, 0)]
    assert clinic.on_hand(lot) == 2 and set(clinic.ledgers().values()) == {0}
