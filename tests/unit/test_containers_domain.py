"""Pure container rules: draw order, new containers from sellDrug's lot, beyond-use
time, waste due, closing."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.containers.domain import (
    Container,
    ContainerInputError,
    PackageRule,
    Visit,
    beyond_use_time,
    can_draw,
    plan_close,
    plan_draws,
    sealed_units,
    waste_due,
)
from aesthetic_inventory.consumption.domain import Lot

TOXIN = PackageRule(1, "Botox", "U", "vial", 100, 24, Decimal("2.5"))
NINE = datetime(2026, 3, 10, 9, 0)


def _container(cid: int, *, lot: int = 10, opened: datetime = NINE, drawn: int = 0,
               units: int = 100, warehouse: str = "onsite", bud: datetime | None = None,
               **kw: object) -> Container:
    return Container(cid, 1, lot, warehouse, opened, bud or datetime(2026, 3, 11, 9, 0), units,
                     drawn, **kw)  # type: ignore[arg-type]


def test_counted_in_units_needs_unit_and_package() -> None:
    assert TOXIN.counted_in_units
    assert not PackageRule(1, counting_unit="U", package_size=1).counted_in_units
    assert not PackageRule(1, package_size=100).counted_in_units
    assert TOXIN.volume_ml(20) == Decimal("0.50")


def test_beyond_use_is_hours_or_lot_expiry_if_earlier() -> None:
    assert beyond_use_time(NINE, TOXIN, date(2027, 1, 1)) == datetime(2026, 3, 11, 9, 0)
    assert beyond_use_time(NINE, TOXIN, date(2026, 3, 11)) == datetime(2026, 3, 11, 0, 0)
    no_clock = PackageRule(1, counting_unit="U", package_size=10)
    assert beyond_use_time(NINE, no_clock, None) is None
    single = PackageRule(1, counting_unit="syringe", package_size=10, single_patient=True)
    assert beyond_use_time(NINE, single, None) == datetime(2026, 3, 11, 0, 0)


def test_open_container_first_oldest_opened_first() -> None:
    old = _container(2, opened=datetime(2026, 3, 10, 8, 0), drawn=90)
    new = _container(1, opened=datetime(2026, 3, 10, 8, 30), drawn=0)
    lots = [Lot(10, 1, 200, "onsite", expiration=date(2027, 1, 1))]
    plan = plan_draws(20, rule=TOXIN, containers=[new, old], lots=lots, at=NINE,
                      visit=Visit(5, 50), warehouse="onsite")
    assert [(d.container_id, d.units) for d in plan.draws] == [(2, 10), (1, 10)]
    assert plan.opened == () and plan.shortage == 0


def test_new_container_from_sell_drug_lot_when_open_ones_cannot_cover() -> None:
    # the candidate lots in sellDrug's order (the engine's rule): earliest expiration first
    lots = [Lot(10, 1, 100, "onsite", expiration=date(2027, 1, 1), lot_number="A"),
            Lot(11, 1, 100, "onsite", expiration=date(2027, 6, 1), lot_number="B")]
    open_one = _container(1, lot=10, drawn=95)
    plan = plan_draws(20, rule=TOXIN, containers=[open_one], lots=lots, at=NINE,
                      visit=Visit(5, 50), warehouse="onsite")
    # 5 from the open vial; lot 10 has 5 units in the open vial, 95 sealed -> a 95 U
    # container is opened from it
    assert [(d.container_id, d.new_index, d.inventory_id, d.units) for d in plan.draws] == [
        (1, None, 10, 5), (None, 0, 10, 15)]
    assert [(n.inventory_id, n.units) for n in plan.opened] == [(10, 95)]
    assert plan.opened[0].beyond_use_at == datetime(2026, 3, 11, 9, 0)
    assert plan.units_by_lot() == {10: 20}


def test_past_beyond_use_other_warehouse_and_single_patient_are_not_drawn() -> None:
    expired = _container(1, bud=datetime(2026, 3, 10, 8, 0))
    elsewhere = _container(2, warehouse="clinic2")
    single = _container(3, single_patient=True, opened_pid=7, opened_encounter=70)
    visit = Visit(5, 50)
    assert not can_draw(expired, at=NINE, warehouse="onsite", visit=visit)
    assert not can_draw(elsewhere, at=NINE, warehouse="onsite", visit=visit)
    assert not can_draw(single, at=NINE, warehouse="onsite", visit=visit)
    assert can_draw(single, at=NINE, warehouse="onsite", visit=Visit(7, 70))
    # a late fee sheet of the same day still draws; a visit days earlier does not
    assert can_draw(_container(4, opened=datetime(2026, 3, 10, 14, 0)), at=NINE,
                    warehouse="onsite", visit=visit)
    assert not can_draw(_container(5, opened=datetime(2026, 3, 12, 9, 0),
                                   bud=datetime(2026, 3, 13, 9, 0)),
                        at=NINE, warehouse="onsite", visit=visit)


def test_shortage_when_lots_have_nothing_sealed() -> None:
    lots = [Lot(10, 1, 30, "onsite", expiration=date(2027, 1, 1))]
    open_one = _container(1, lot=10, units=100, drawn=70)
    assert sealed_units(lots[0], [open_one]) == 0
    plan = plan_draws(50, rule=TOXIN, containers=[open_one], lots=lots, at=NINE,
                      visit=Visit(5, 50), warehouse="onsite")
    assert plan.drawn == 30 and plan.shortage == 20 and plan.opened == ()


def test_waste_due_after_grace() -> None:
    c = _container(1, bud=datetime(2026, 3, 10, 14, 0))
    assert not waste_due(c, datetime(2026, 3, 11, 1, 59), 12)
    assert waste_due(c, datetime(2026, 3, 11, 2, 0), 12)
    no_clock = Container(2, 1, 10, "onsite", NINE, None, 100)
    assert not waste_due(no_clock, datetime(2030, 1, 1), 12)


def test_close_plan_defaults_to_all_left_and_validates() -> None:
    c = _container(1, drawn=80)
    assert plan_close(c, reason="Dropped", waste=None, lot_on_hand=100).waste == 20
    partial = plan_close(c, reason="used-up", waste=5, lot_on_hand=100)
    assert (partial.waste, partial.unaccounted) == (5, 15)
    with pytest.raises(ContainerInputError, match="from 0 to the 20"):
        plan_close(c, reason="dropped", waste=21, lot_on_hand=100)
    with pytest.raises(ContainerInputError, match="--reason"):
        plan_close(c, reason="lost", waste=None, lot_on_hand=100)
    with pytest.raises(ContainerInputError, match="closed"):
        plan_close(_container(2, closed_at=NINE), reason="dropped", waste=None,
                   lot_on_hand=100)
    # another screen took units from the lot: never written off below zero
    assert plan_close(c, reason="dropped", waste=None, lot_on_hand=12).waste == 12
