"""Requirement per visit and mapping: SUM(units) of live lines x mapping quantity."""

from __future__ import annotations

from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.domain import planned_quantity, required_units
from aesthetic_inventory.consumption.planning import MappedLine, requirements


@pytest.mark.parametrize(
    ("units", "per_unit", "planned", "required"),
    [
        ([1], "1", "1", 1),
        ([2, 3], "0.3", "1.5", 2),
        ([None, 2], "1", "2", 2),
        ([-5, 2], "1", "0", 0),
        ([4], "0.25", "1", 1),
        ([1], "0.0001", "0.0001", 1),
    ],
)
def test_planned_and_required(units: list[int | None], per_unit: str, planned: str,
                              required: int) -> None:
    value = planned_quantity(units, Decimal(per_unit))
    assert value == Decimal(planned)
    assert required_units(value) == required


def line(line_id: int, mapping: int, units: int, user: str | None, wh: str = "") -> MappedLine:
    return MappedLine(line_id, units, mapping, 7, "CPT4", "15828", Decimal("0.5"), True, True,
                      user, wh)


def test_requirements_aggregate_per_mapping_and_take_the_latest_line_user() -> None:
    reqs = requirements(
        [line(1, 10, 3, "ann", "a"), line(5, 10, 2, "bob", "b"), line(3, 11, 1, None, "x")],
        "svc",
    )
    assert reqs[10].planned_quantity == Decimal("2.5") and reqs[10].required_units == 3
    assert (reqs[10].username, reqs[10].default_warehouse) == ("bob", "b")
    # a line without a known user is sold as the service user, with no default warehouse
    assert (reqs[11].username, reqs[11].default_warehouse) == ("svc", "")
