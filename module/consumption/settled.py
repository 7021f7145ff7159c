"""Which visits of the sweep's window a reconcile would change (pure: no SQL).

The sweep reads its window's live billed units, held ``AUTO_PROC`` rows and usage
records in a few statements (``repositories/sweep.py``) and asks
:func:`unsettled_visits` which visits need a reconcile, per
:func:`~.domain.mapping_is_settled`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from .domain import MappingState, StoredUsage, mapping_is_settled, parse_selector


@dataclass(frozen=True)
class LiveMapping:
    """A window visit's live billed units of one mapping (and the mapping's product)."""

    pid: int
    encounter: int
    mapping_id: int
    drug_id: int
    units: int
    per_unit: Decimal


@dataclass(frozen=True)
class HeldRows:
    """A window visit's AUTO_PROC quantity per selector, product and billed flag."""

    pid: int
    encounter: int
    selector: str | None
    drug_id: int
    quantity: int
    billed: bool


@dataclass(frozen=True)
class UsageRecord:
    """A window visit's stored usage record of one mapping."""

    pid: int
    encounter: int
    mapping_id: int
    usage: StoredUsage


@dataclass(frozen=True)
class WindowFacts:
    """Everything the sweep's exact check needs about the visits of its window."""

    live: tuple[LiveMapping, ...] = ()
    held: tuple[HeldRows, ...] = ()
    usage: tuple[UsageRecord, ...] = ()


def unsettled_visits(facts: WindowFacts) -> tuple[set[tuple[int, int]], int]:
    """The window's visits a reconcile would change (per :func:`mapping_is_settled`),
    and how many visits were checked."""
    live: dict[tuple[int, int, int], tuple[int, int, Decimal]] = {}
    held: dict[tuple[int, int, int], list[tuple[int, int, bool]]] = defaultdict(list)
    usage: dict[tuple[int, int, int], StoredUsage] = {}
    visits: set[tuple[int, int]] = set()
    for line in facts.live:
        visits.add((line.pid, line.encounter))
        live[(line.pid, line.encounter, line.mapping_id)] = (
            line.drug_id, line.units, line.per_unit
        )
    for rows in facts.held:
        visits.add((rows.pid, rows.encounter))
        parsed = parse_selector(rows.selector)
        if parsed is not None:  # a hand-edited selector is not ours (reconcile agrees)
            held[(rows.pid, rows.encounter, parsed)].append(
                (rows.drug_id, rows.quantity, rows.billed)
            )
    for record in facts.usage:
        visits.add((record.pid, record.encounter))
        usage[(record.pid, record.encounter, record.mapping_id)] = record.usage
    unsettled: set[tuple[int, int]] = set()
    for key in set(live) | set(held) | set(usage):
        drug_id, units, per_unit = live.get(key, (None, 0, Decimal(0)))
        rows_of = held.get(key, [])
        same = [r for r in rows_of if drug_id is None or r[0] == drug_id]
        state = MappingState(
            mapping_id=key[2],
            drug_id=drug_id,
            live_units=units,
            per_unit=per_unit,
            held=sum(q for _, q, _ in same),
            held_unbilled=sum(q for _, q, billed in same if not billed),
            held_other_drug=sum(
                abs(q) for d, q, _ in rows_of if drug_id is not None and d != drug_id
            ),
            usage=usage.get(key),
        )
        if not mapping_is_settled(state):
            unsettled.add((key[0], key[1]))
    return unsettled, len(visits)
