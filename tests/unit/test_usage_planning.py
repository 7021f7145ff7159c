"""Target choice between plan and actual inside the consumption planning (pure)."""

from __future__ import annotations

from decimal import Decimal

from aesthetic_inventory.consumption.domain import (
    MappingState,
    Requirement,
    StoredUsage,
    mapping_is_settled,
)
from aesthetic_inventory.consumption.planning import (
    RecordedActual,
    UsageRow,
    VisitFacts,
    apply_actuals,
)

D = Decimal


def _req(mapping: int = 1, planned: str = "1") -> Requirement:
    return Requirement(mapping, 10, "CPT4", "15828", D(planned), username="doc")


def test_actual_replaces_the_plan_as_target_and_keeps_the_plan() -> None:
    reqs = apply_actuals({1: _req()}, {1: RecordedActual(D("2.5"), 7)}, VisitFacts(), "svc")
    req = reqs[1]
    assert req.planned_quantity == D("1") and req.required_units == 3 and req.lot_id == 7
    assert req.username == "doc"


def test_mapping_without_live_lines_still_holds_its_actual() -> None:
    facts = VisitFacts(usage={2: UsageRow(2, 11, D("1"), 1, 1, 0, "CPT4", "11950")},
                       products={2: (True, True, "Filler")})
    reqs = apply_actuals({}, {2: RecordedActual(D("1"))}, facts, "svc")
    req = reqs[2]
    assert (req.drug_id, req.planned_quantity, req.required_units, req.username,
            req.allow_combining, req.product_name) == (11, D(0), 1, "svc", True, "Filler")


def test_no_actual_leaves_the_requirement_alone() -> None:
    assert apply_actuals({1: _req()}, {}, VisitFacts(), "svc") == {1: _req()}


def test_settled_check_counts_the_actual_as_target() -> None:
    usage = StoredUsage(10, D("1"), 2, 2, 0, actual_quantity=D("2"))
    state = MappingState(1, drug_id=10, live_units=1, per_unit=D("1"), held=2,
                         held_unbilled=2, usage=usage)
    assert mapping_is_settled(state)
    plan_only = StoredUsage(10, D("1"), 2, 2, 0)
    assert not mapping_is_settled(MappingState(1, drug_id=10, live_units=1, per_unit=D("1"),
                                               held=2, held_unbilled=2, usage=plan_only))
