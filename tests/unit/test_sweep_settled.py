"""The sweep's pre-check: when would a reconcile of one mapping of one visit change
nothing (so the sweep need not open a transaction for it)?"""

from __future__ import annotations

from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.domain import MappingState, StoredUsage, mapping_is_settled


def usage(planned: str = "4", required: int = 4, allocated: int = 4, shortage: int = 0,
          drug: int = 7) -> StoredUsage:
    return StoredUsage(drug, Decimal(planned), required, allocated, shortage)


def state(**kw) -> MappingState:  # type: ignore[no-untyped-def]
    base = {"mapping_id": 1, "drug_id": 7, "live_units": 4, "per_unit": Decimal("1"),
            "held": 4, "held_unbilled": 4, "usage": usage()}
    base.update(kw)
    return MappingState(**base)


CASES = [
    ("reconciled and recorded", state(), True),
    ("units raised: take more", state(live_units=5), False),
    ("units lowered, surplus unbilled: return", state(live_units=3), False),
    ("units lowered, surplus billed: frozen, record current",
     state(live_units=3, held_unbilled=0, usage=usage("3", 3, 4)), True),
    ("mapping quantity changed, same whole units: planned differs",
     state(per_unit=Decimal("0.9"), live_units=5), False),
    ("fractional planned rounds up and matches",
     state(per_unit=Decimal("0.5"), live_units=7, usage=usage("3.5", 4, 4)), True),
    ("open shortage recorded exactly: left to the open-shortage check",
     state(held=2, held_unbilled=2, usage=usage("4", 4, 2, 2)), True),
    ("shortage not recorded", state(held=2, held_unbilled=2, usage=usage("4", 4, 2, 0)), False),
    ("units raised over a recorded shortage",
     state(live_units=5, held=2, held_unbilled=2, usage=usage("4", 4, 2, 2)), False),
    ("product of the mapping changed", state(held_other_drug=4), False),
    ("no usage record yet", state(usage=None), False),
    ("usage record stale", state(usage=usage("4", 4, 3, 0)), False),
    ("usage of another product", state(usage=usage(drug=8)), False),
    ("lines deleted, rows unbilled: return",
     state(drug_id=None, live_units=0, usage=usage()), False),
    ("lines deleted, nothing held, zero record",
     state(drug_id=None, live_units=0, held=0, held_unbilled=0, usage=usage("0", 0, 0)), True),
    ("lines deleted, nothing held, record not zeroed yet",
     state(drug_id=None, live_units=0, held=0, held_unbilled=0), False),
    ("nothing needed, nothing held, no record",
     state(live_units=0, held=0, held_unbilled=0, usage=None), True),
]


@pytest.mark.parametrize(("name", "given", "settled"), CASES, ids=[c[0] for c in CASES])
def test_mapping_is_settled(name: str, given: MappingState, settled: bool) -> None:
    assert mapping_is_settled(given) is settled, name
