"""The variance report: planned versus actual units and cost, variance by reason,
wastage rate, grouped by product, code, provider or month (pure grouping + one read).

A usage record without a recorded actual counts as "used as planned" (variance 0),
as seed 003 creates every material with actual = planned.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.engine import Engine

from ..db import connect
from ..errors import InvalidInputError
from .domain import REASONS
from .repository import variance_rows

GROUPINGS = ("product", "code", "provider", "month")


@dataclass(frozen=True)
class UsageFact:
    """One usage record as the report sees it."""

    visit_date: date
    product: str
    code: str
    provider: str
    planned: Decimal
    actual: Decimal | None
    reason: str | None
    unit_cost: Decimal


@dataclass(frozen=True)
class VarianceGroup:
    key: str
    records: int
    planned_units: Decimal
    actual_units: Decimal
    planned_cost: Decimal | None
    actual_cost: Decimal | None
    by_reason: dict[str, Decimal] = field(default_factory=dict)

    @property
    def variance_units(self) -> Decimal:
        return self.actual_units - self.planned_units

    @property
    def variance_cost(self) -> Decimal | None:
        if self.actual_cost is None or self.planned_cost is None:
            return None
        return self.actual_cost - self.planned_cost

    @property
    def wastage_units(self) -> Decimal:
        return self.by_reason.get("WASTAGE", Decimal(0))

    @property
    def wastage_rate(self) -> Decimal | None:
        """Units recorded as wastage over the units actually used (None if none used)."""
        if self.actual_units <= 0:
            return None
        return (self.wastage_units / self.actual_units).quantize(Decimal("0.0001"))


def group_key(fact: UsageFact, by: str) -> str:
    if by == "product":
        return fact.product
    if by == "code":
        return fact.code
    if by == "provider":
        return fact.provider or "(no provider)"
    if by == "month":
        return fact.visit_date.strftime("%Y-%m")
    raise InvalidInputError(f"unknown grouping {by!r}; use one of " + ", ".join(GROUPINGS))


def summarise(facts: Iterable[UsageFact], by: str, *, can_see_costs: bool
              ) -> list[VarianceGroup]:
    """Group the facts; costs only when ``can_see_costs``. Variance by reason sums
    ``actual - planned`` of the records with that reason (positive = more used)."""
    groups: dict[str, list[UsageFact]] = {}
    for fact in facts:
        groups.setdefault(group_key(fact, by), []).append(fact)
    result = []
    for key in sorted(groups):
        rows = groups[key]
        planned = sum((f.planned for f in rows), Decimal(0))
        actual = sum((f.planned if f.actual is None else f.actual for f in rows), Decimal(0))
        by_reason: dict[str, Decimal] = {}
        for f in rows:
            if f.actual is not None and f.reason:
                by_reason[f.reason] = by_reason.get(f.reason, Decimal(0)) + f.actual - f.planned
        planned_cost = actual_cost = None
        if can_see_costs:
            planned_cost = sum((f.planned * f.unit_cost for f in rows), Decimal(0)).quantize(
                Decimal("0.01"))
            actual_cost = sum(
                ((f.planned if f.actual is None else f.actual) * f.unit_cost for f in rows),
                Decimal(0),
            ).quantize(Decimal("0.01"))
        ordered = {r: by_reason[r] for r in REASONS if r in by_reason}
        result.append(VarianceGroup(key, len(rows), planned, actual, planned_cost, actual_cost,
                                    ordered))
    return result


@dataclass(frozen=True)
class VarianceReport:
    since: date | None
    until: date | None
    by: str
    can_see_costs: bool
    groups: tuple[VarianceGroup, ...]

    def total(self) -> VarianceGroup:
        return _total(self.groups, self.can_see_costs)


def _total(groups: Sequence[VarianceGroup], can_see_costs: bool) -> VarianceGroup:
    reasons: dict[str, Decimal] = {}
    for g in groups:
        for r, v in g.by_reason.items():
            reasons[r] = reasons.get(r, Decimal(0)) + v
    return VarianceGroup(
        "total", sum(g.records for g in groups),
        sum((g.planned_units for g in groups), Decimal(0)),
        sum((g.actual_units for g in groups), Decimal(0)),
        sum((g.planned_cost or Decimal(0) for g in groups), Decimal("0.00"))
        if can_see_costs else None,
        sum((g.actual_cost or Decimal(0) for g in groups), Decimal("0.00"))
        if can_see_costs else None,
        {r: reasons[r] for r in REASONS if r in reasons},
    )


def variance_report(engine: Engine, *, since: date | None, until: date | None, by: str,
                    can_see_costs: bool) -> VarianceReport:
    """Read the usage records of visits dated in [since, until] and summarise them."""
    if by not in GROUPINGS:
        raise InvalidInputError(f"unknown grouping {by!r}; use one of " + ", ".join(GROUPINGS))
    if since and until and since > until:
        raise InvalidInputError(f"--from {since} is after --to {until}")
    conn = connect(engine)
    try:
        rows = variance_rows(conn, since, until)
        conn.rollback()
    finally:
        conn.close()
    facts = [
        UsageFact(
            visit_date=r[0], product=str(r[5] or f"product {r[4]}"), code=f"{r[6]}:{r[7]}",
            provider=str(r[12] or ""), planned=Decimal(r[8]),
            actual=None if r[9] is None else Decimal(r[9]), reason=r[10],
            unit_cost=Decimal(r[11] or 0),
        )
        for r in rows
    ]
    return VarianceReport(since, until, by, can_see_costs,
                          tuple(summarise(facts, by, can_see_costs=can_see_costs)))
