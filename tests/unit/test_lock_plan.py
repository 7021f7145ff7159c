"""Pure rules of the optimistic lot lock: merge the locked state into the snapshot and
decide whether a plan still writes only locked lots."""

from __future__ import annotations

from aesthetic_inventory.consumption.domain import Lot, merge_locked, plan_still_holds


def lot(inv: int, on_hand: int) -> Lot:
    return Lot(inventory_id=inv, drug_id=7, on_hand=on_hand, warehouse_id="onsite")


def test_merge_puts_locked_state_in_place_and_keeps_the_rest() -> None:
    snapshot = {1: lot(1, 5), 2: lot(2, 5), 3: lot(3, 5)}
    merged = merge_locked(snapshot, [2], [lot(2, 1)])
    assert merged == {1: lot(1, 5), 2: lot(2, 1), 3: lot(3, 5)}
    assert snapshot[2] == lot(2, 5)  # the snapshot itself is not changed


def test_merge_drops_a_requested_lot_that_vanished_under_the_lock() -> None:
    merged = merge_locked({1: lot(1, 5), 2: lot(2, 5)}, [1, 2], [lot(2, 5)])
    assert merged == {2: lot(2, 5)}


def test_plan_holds_only_when_every_written_lot_is_locked() -> None:
    assert plan_still_holds({1: -3, 2: -1}, [1, 2, 9])
    assert not plan_still_holds({1: -3, 4: -1}, [1, 2])


def test_no_lot_and_net_zero_changes_need_no_lock() -> None:
    assert plan_still_holds({0: -2, 5: 0}, [])
