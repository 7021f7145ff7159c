"""The UPDATE that writes a plan is also the lots' lock and their check: it reports,
in its own reply, whether every lot was still as the plan saw it."""

from __future__ import annotations

from datetime import date

from aesthetic_inventory.consumption.repositories import ConsumptionRepository
from clinic import Clinic
from sqlalchemy import text
from sqlalchemy.engine import Engine


def _snapshot(repo: ConsumptionRepository, drug: int) -> dict:  # type: ignore[type-arg]
    return {lot.inventory_id: lot for lot in repo.candidate_lots([drug], [])}


def _lots_a_b(clinic: Clinic, on_hand_a: int, on_hand_b: int) -> tuple[int, int, int]:
    """A product that combines lots, with lot A (expiring first) and lot B."""
    drug = clinic.add_drug("Filler", allow_combining=1)
    a = clinic.add_lot(drug, on_hand_a, expiration=date(2027, 1, 1), lot_number="A")
    b = clinic.add_lot(drug, on_hand_b, expiration=date(2027, 2, 1), lot_number="B")
    return drug, a, b


def test_unchanged_lots_are_written_and_reported_as_planned(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Filler", allow_combining=1)
    a = clinic.add_lot(drug, 5, expiration=date(2027, 1, 1), lot_number="A")
    b = clinic.add_lot(drug, 4, expiration=None, lot_number=None)
    with migrated_engine.connect() as conn:
        repo = ConsumptionRepository(conn)
        snapshot = _snapshot(repo, drug)
        assert repo.adjust_lots_as_planned({a: -2, b: -4}, snapshot) is True
        conn.commit()
    assert [clinic.on_hand(a), clinic.on_hand(b)] == [3, 0]


def test_a_lot_changed_after_the_snapshot_is_reported_and_still_written(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    drug, a, b = _lots_a_b(clinic, 5, 4)
    with migrated_engine.connect() as conn:
        repo = ConsumptionRepository(conn)
        snapshot = _snapshot(repo, drug)
        with migrated_engine.begin() as other:  # not the stock: only the expiry moves
            other.execute(text("UPDATE drug_inventory SET expiration = '2026-12-01' "
                               "WHERE inventory_id = :i"), {"i": a})
        # False: the caller re-plans; the deltas are applied all the same, so the
        # state under the lock is the current one minus the delta
        assert repo.adjust_lots_as_planned({a: -1, b: -1}, snapshot) is False
        mine = conn.execute(text("SELECT on_hand FROM drug_inventory WHERE inventory_id IN "
                                 "(:a, :b) ORDER BY inventory_id"), {"a": a, "b": b})
        assert [r[0] for r in mine] == [4, 3]
        conn.rollback()
    assert [clinic.on_hand(a), clinic.on_hand(b)] == [5, 4]


def test_a_lot_that_lost_stock_it_does_not_give_still_holds_the_plan(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    """Issue 21: a concurrent save took 3 of the 10 units of the lot this plan takes 2
    from and leaves with stock: the plan is the one the locked state gives (no stale
    re-plan). The lot the plan drains must still hold exactly what the plan saw."""
    drug, a, b = _lots_a_b(clinic, 3, 10)
    with migrated_engine.connect() as conn:
        repo = ConsumptionRepository(conn)
        snapshot = _snapshot(repo, drug)
        with migrated_engine.begin() as other:
            other.execute(text("UPDATE drug_inventory SET on_hand = 7 WHERE inventory_id = :i"),
                          {"i": b})
        assert repo.adjust_lots_as_planned({a: -3, b: -2}, snapshot) is True
        conn.commit()
    assert [clinic.on_hand(a), clinic.on_hand(b)] == [0, 5]
    with migrated_engine.connect() as conn:
        repo = ConsumptionRepository(conn)
        snapshot = _snapshot(repo, drug)  # b holds 5
        with migrated_engine.begin() as other:  # b down to 1: no longer covers 2
            other.execute(text("UPDATE drug_inventory SET on_hand = 1 WHERE inventory_id = :i"),
                          {"i": b})
        assert repo.adjust_lots_as_planned({b: -2}, snapshot) is False
        conn.rollback()
        snapshot = _snapshot(repo, drug)  # b holds 1 ...
        with migrated_engine.begin() as other:  # ... then 4: a lot drained must be exact
            other.execute(text("UPDATE drug_inventory SET on_hand = 4 WHERE inventory_id = :i"),
                          {"i": b})
        assert repo.adjust_lots_as_planned({b: -1}, snapshot) is False
        conn.rollback()
