"""The variance report's grouping (pure)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.errors import InvalidInputError
from aesthetic_inventory.usage.report import UsageFact, summarise

D = Decimal


def fact(product: str, planned: str, actual: str | None, reason: str | None = None,
         *, month: int = 3, provider: str = "drmai", cost: str = "10") -> UsageFact:
    return UsageFact(date(2026, month, 10), product, f"CPT4:{product}", provider, D(planned),
                     None if actual is None else D(actual), reason, D(cost))


FACTS = [
    fact("botox", "1", "2", "ADDITIONAL_USAGE"),
    fact("botox", "2", "1", "WASTAGE", month=4),  # less used, but recorded as wastage
    fact("botox", "1", None),  # no actual: used as planned
    fact("filler", "1", "3", "WASTAGE", provider="drlee", cost="100"),
]


def test_by_product_sums_units_costs_reasons_and_wastage_rate() -> None:
    botox, filler = summarise(FACTS, "product", can_see_costs=True)
    assert botox.key == "botox" and botox.records == 3
    assert (botox.planned_units, botox.actual_units, botox.variance_units) == (D(4), D(4), D(0))
    assert botox.by_reason == {"ADDITIONAL_USAGE": D(1), "WASTAGE": D(-1)}
    assert (botox.planned_cost, botox.actual_cost, botox.variance_cost) == (
        D("40.00"), D("40.00"), D("0.00"))
    assert filler.wastage_rate == D("0.6667")  # 2 of 3 units used were waste
    assert filler.variance_cost == D("200.00")


def test_costs_are_none_without_permission() -> None:
    [g, *_] = summarise(FACTS, "product", can_see_costs=False)
    assert g.planned_cost is None and g.actual_cost is None and g.variance_cost is None


@pytest.mark.parametrize("by, keys", [("month", ["2026-03", "2026-04"]),
                                      ("provider", ["drlee", "drmai"]),
                                      ("code", ["CPT4:botox", "CPT4:filler"])])
def test_other_groupings(by: str, keys: list[str]) -> None:
    assert [g.key for g in summarise(FACTS, by, can_see_costs=False)] == keys


def test_unknown_grouping_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="unknown grouping"):
        summarise(FACTS, "room", can_see_costs=False)
