"""Pure rules of the optimistic lot lock: merge the locked state into the snapshot,
decide whether a plan still writes only locked lots, and which locked stock still
gives the same plan."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date
from decimal import Decimal

from aesthetic_inventory.consumption.domain import (
    DEFAULT_POLICY,
    Lot,
    Requirement,
    check_bounds,
    merge_locked,
    plan_still_holds,
)
from aesthetic_inventory.consumption.planning import Visit, mapping_plans, stock_plan

VISIT = Visit(pid=1, encounter=100, visit_date=date(2026, 3, 10))


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


# -- check_bounds: which locked on_hand still gives the same plan (issue 21) -------------

def test_a_lot_left_with_stock_may_have_lost_what_it_does_not_give() -> None:
    assert check_bounds(20, -2) == (2, 20)  # partial take: 2..20 units keep the plan


def test_drained_returned_and_untouched_lots_must_be_exact() -> None:
    assert check_bounds(3, -3) == (3, 3)  # drained: holding more would change the plan
    assert check_bounds(3, 2) == (3, 3)  # given back to
    assert check_bounds(0, 0) == (0, 0)


def _plan(lots: dict[int, Lot], reqs: dict[int, Requirement]) -> dict[int, int]:
    changes = stock_plan(mapping_plans(reqs, []), reqs, VISIT, lots, DEFAULT_POLICY)
    return {k: v for k, v in changes.deltas.items() if v}


def test_within_the_bounds_every_plan_is_the_plan_of_the_locked_state() -> None:
    """Random lots and requirements (combining or not, two mappings of one product):
    lower each written lot's stock anywhere within its bounds (as a concurrent save
    would) and plan again on that state: the deltas are the same. Just below a bound
    they are not (so the bounds are not loose)."""
    rng = random.Random(21)
    checked = tightened = 0
    for _ in range(400):
        lots = {i: Lot(i, 7, rng.choice([0, 1, 2, 3, 5, 8, 20]), "onsite", 5,
                       date(2027, 1, rng.randint(1, 4)), f"L{rng.randint(1, 3)}")
                for i in range(1, rng.randint(2, 7))}
        reqs = {m: Requirement(m, 7, "CPT4", f"C{m}", Decimal(rng.randint(1, 9)),
                               allow_combining=rng.random() < 0.7)
                for m in range(1, rng.randint(2, 3))}
        deltas = _plan(lots, reqs)
        for lot_id, delta in deltas.items():
            low, high = check_bounds(lots[lot_id].on_hand, delta)
            for on_hand in range(low, high + 1):
                moved = dict(lots) | {lot_id: replace(lots[lot_id], on_hand=on_hand)}
                assert _plan(moved, reqs) == deltas, (lots, reqs, lot_id, on_hand)
                checked += 1
            if low > 0 and low < high:  # one unit short of the take: another plan
                short = dict(lots) | {lot_id: replace(lots[lot_id], on_hand=low - 1)}
                assert _plan(short, reqs) != deltas
                tightened += 1
        # every written lot moved at once, each within its bounds
        moved = dict(lots)
        for lot_id, delta in deltas.items():
            low, high = check_bounds(lots[lot_id].on_hand, delta)
            moved[lot_id] = replace(lots[lot_id], on_hand=rng.randint(low, high))
        assert _plan(moved, reqs) == deltas, (lots, moved, reqs)
    assert checked > 500 and tightened > 50
