"""The containers step of a visit's plan: several mappings share the vial the first
opens; returns go back into open containers, else are written off again."""

from __future__ import annotations

from datetime import date, datetime

from aesthetic_inventory.consumption.containers.domain import Container, PackageRule, Visit
from aesthetic_inventory.consumption.containers.engine import (
    Need,
    SaleDraw,
    plan_container_returns,
    plan_visit_draws,
)
from aesthetic_inventory.consumption.domain import Lot

AT = datetime(2026, 3, 10, 10, 0)
RULES = {1: PackageRule(1, "Botox", "U", "vial", 100, 24)}


def every_lot(lots, need):  # type: ignore[no-untyped-def]
    return lots


def test_two_mappings_share_the_vial_the_first_opens() -> None:
    lots = [Lot(10, 1, 150, "onsite", expiration=date(2027, 1, 1))]
    plan = plan_visit_draws([Need(7, 1, 60, "onsite"), Need(8, 1, 60, "onsite")],
                            rules=RULES, containers=[], lots=lots, at=AT, visit=Visit(1, 11),
                            candidates=every_lot)
    assert [(n.inventory_id, n.units) for n in plan.opened] == [(10, 100), (10, 50)]
    assert [(d.mapping_id, d.container_id, d.units) for d in plan.draws] == [
        (7, -1, 60), (8, -1, 40), (8, -2, 20)]
    assert plan.units_by_mapping_lot() == {(7, 10): 60, (8, 10): 60}
    assert plan.shortage == {}


def test_shortage_per_mapping() -> None:
    lots = [Lot(10, 1, 50, "onsite")]
    plan = plan_visit_draws([Need(7, 1, 80, "onsite")], rules=RULES, containers=[], lots=lots,
                            at=AT, visit=Visit(1, 11), candidates=every_lot)
    assert plan.shortage == {7: 30} and sum(d.units for d in plan.draws) == 50


def test_returns_go_back_to_open_containers_newest_draw_first() -> None:
    open_box = Container(1, 1, 10, "onsite", AT, None, 100, 60)
    closed = Container(2, 1, 10, "onsite", AT, None, 100, 100, closed_at=AT)
    draws = [SaleDraw(1, 500, 2, 20), SaleDraw(2, 500, 1, 10)]
    out = plan_container_returns([(500, 10, 25)], draws, {1: open_box, 2: closed})
    assert out.given_back == {1: 10}
    assert out.draw_units == {2: 0, 1: 5}
    assert out.written_off == {10: 15}
