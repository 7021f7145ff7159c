"""The containers step of a visit's plan: several mappings share the vial the first
opens; returns go back into open containers, else are written off again; a lot the
nurse named (chosen or scanned) is drawn from its own vials."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from aesthetic_inventory.consumption.containers.domain import Container, PackageRule, Visit
from aesthetic_inventory.consumption.containers.engine import (
    Need,
    SaleDraw,
    plan_container_returns,
    plan_visit_draws,
)
from aesthetic_inventory.consumption.containers.reconcile import container_stock_plan
from aesthetic_inventory.consumption.containers.step import ContainerFacts
from aesthetic_inventory.consumption.domain import Lot, MappingPlan, Requirement
from aesthetic_inventory.consumption.planning import Visit as EngineVisit

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


def _named(lot_id: int | None, take: int = 20, *, prefer: frozenset[int] = frozenset(),
           containers: tuple[Container, ...] = (), lots: tuple[Lot, ...] = ()):  # type: ignore[no-untyped-def]
    """The engine's container plan of one mapping of 20 U, the lot named or not."""
    req = Requirement(7, 1, "CPT4", "64612", Decimal(take), default_warehouse="onsite",
                      lot_id=lot_id)
    plan = MappingPlan(7, 1, take, 0, take, ())
    facts = ContainerFacts(RULES, containers, (), AT, prefer)
    return container_stock_plan({7: plan}, {7: req}, EngineVisit(1, 11, AT.date(), AT),
                                {x.inventory_id: x for x in lots}, facts)[1]


A = Lot(10, 1, 300, "onsite", expiration=date(2027, 1, 1))
B = Lot(20, 1, 300, "onsite", expiration=date(2028, 1, 1))


def test_a_named_lot_draws_its_oldest_open_vial_not_the_first_expiring_lots() -> None:
    vial_a = Container(1, 1, 10, "onsite", AT.replace(hour=8), None, 100, 10)
    vial_b = Container(2, 1, 20, "onsite", AT.replace(hour=9), None, 100, 10)
    newer_b = Container(3, 1, 20, "onsite", AT.replace(hour=9, minute=30), None, 100, 10)
    plain = _named(None, containers=(vial_a, vial_b, newer_b), lots=(A, B))
    assert [(d.container_id, d.units) for d in plain.draws] == [(1, 20)]  # oldest vial
    named = _named(20, containers=(vial_a, newer_b, vial_b), lots=(A, B))
    assert [(d.inventory_id, d.container_id, d.units) for d in named.draws] == [(20, 2, 20)]
    assert named.opened == ()


def test_a_named_lot_draws_the_vial_the_visit_already_draws_from_first() -> None:
    vial_b = Container(2, 1, 20, "onsite", AT.replace(hour=9), None, 100, 10)
    newer_b = Container(3, 1, 20, "onsite", AT.replace(hour=9, minute=30), None, 100, 10)
    named = _named(20, prefer=frozenset({3}), containers=(vial_b, newer_b), lots=(A, B))
    assert [(d.container_id, d.units) for d in named.draws] == [(3, 20)]


def test_a_named_lot_without_an_open_vial_opens_one_from_that_lot() -> None:
    vial_a = Container(1, 1, 10, "onsite", AT.replace(hour=8), None, 100, 10)
    named = _named(20, containers=(vial_a,), lots=(A, B))
    assert [(n.inventory_id, n.units) for n in named.opened] == [(20, 100)]
    assert [(d.inventory_id, d.container_id, d.units) for d in named.draws] == [(20, -1, 20)]


def test_a_destroyed_or_empty_named_lot_gives_nothing_not_even_its_vial() -> None:
    vial_b = Container(2, 1, 20, "onsite", AT.replace(hour=9), None, 100, 10)
    for lot in (Lot(20, 1, 300, "onsite", destroyed=True), Lot(20, 1, 0, "onsite")):
        named = _named(20, containers=(vial_b,), lots=(A, lot))
        assert named.draws == () and named.shortage == {7: 20}
