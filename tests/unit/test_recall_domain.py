"""The recall room's pure rules: grouping visits per patient, one notice per provider,
which lots move to quarantine, what sellDrug treats as unavailable, input checks."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from aesthetic_inventory.recall import domain
from aesthetic_inventory.recall.domain import Exposure, LotState, Recall, RecallInputError


def exposure(pid: int, encounter: int, day: int, units: int, provider: str,
             inventory_id: int = 1) -> Exposure:
    return Exposure(pid, f"Patient {pid}", date(1980, 1, pid % 28 + 1), f"555-{pid}",
                    f"{pid}@example.org", encounter, date(2026, 3, day), units, provider,
                    provider.title(), "Botox", inventory_id)


RECALL = Recall(7, "L-1", None, "particulates", "open", "quarantine", "buyer",
                datetime(2026, 3, 20, 9, 0))


def test_patients_grouped_with_their_visits_in_date_order() -> None:
    patients = domain.group_patients([
        exposure(2, 20, 5, 1, "drb"), exposure(1, 11, 9, 2, "dra"),
        exposure(1, 10, 3, 3, "dra", inventory_id=2), exposure(2, 21, 1, 4, ""),
    ])
    assert [p.pid for p in patients] == [2, 1]  # by first visit
    assert [v.encounter for v in patients[0].visits] == [21, 20]
    assert patients[1].units == 5 and patients[0].units == 5
    assert patients[0].providers == ("drb",)  # the visit without a provider adds none
    assert patients[1].provider_names == "Dra"


def test_one_notice_per_provider_listing_only_their_visits() -> None:
    patients = domain.group_patients([
        exposure(1, 10, 3, 3, "dra"), exposure(1, 11, 4, 1, "drb"),
        exposure(2, 20, 5, 2, "dra"), exposure(3, 30, 6, 1, ""),
    ])
    notices = domain.provider_notices(RECALL, patients)
    assert [(n.provider, [p.pid for p in n.patients]) for n in notices] == [
        ("dra", [1, 2]), ("drb", [1])]
    assert notices[1].text.splitlines()[:3] == [
        "Recall 7 of lot L-1: particulates",
        "1 of your patients received units of this lot:",
        "- Patient 1 (pid 1, DOB 1980-01-02, phone 555-1): 2026-03-04 (1 u)",
    ]
    assert notices[0].title == "Pharmacy"


def test_lots_to_quarantine_and_what_selldrug_can_sell() -> None:
    lots = [LotState(1, 5, "Botox", "onsite", 5, 4, False),
            LotState(2, 5, "Botox", "quarantine", 999, 3, False),
            LotState(3, 5, "Botox", "onsite", 5, 0, False),
            LotState(4, 5, "Botox", "onsite", 5, 2, True),
            LotState(5, 5, "Botox", "annex", None, 1, False)]
    assert [lot.inventory_id for lot in domain.to_quarantine(lots, "quarantine")] == [1, 5]
    assert domain.sellable_warehouse(None) and domain.sellable_warehouse(99)
    assert not domain.sellable_warehouse(100)


def test_call_list_rows() -> None:
    rows = domain.call_list_rows(domain.group_patients([exposure(1, 10, 3, 3, "dra")]))
    assert rows == [{"pid": "1", "name": "Patient 1", "dob": "1980-01-02", "phone": "555-1",
                     "email": "1@example.org", "visits": "2026-03-03 enc 10", "units": "3",
                     "provider": "Dra", "container": "", "products": "Botox"}]


def test_input_checks() -> None:
    assert domain.clean_reason("  supplier\n notice ") == "supplier notice"
    assert domain.clean_lot(" L-1 ") == "L-1"
    assert domain.open_key("Ab-1", None) == "ab-1|" and domain.open_key("x", 4) == "x|4"
    with pytest.raises(RecallInputError, match="--reason is required"):
        domain.clean_reason(" ")
    with pytest.raises(RecallInputError, match="at most 1000"):
        domain.clean_reason("x" * 1001)
    with pytest.raises(RecallInputError, match="longer than OpenEMR's 20"):
        domain.clean_lot("x" * 21)


def test_stock_of_an_open_recall_still_sellable() -> None:
    closed = Recall(8, "L-1", None, "x", "closed", "quarantine", "buyer",
                    datetime(2026, 3, 20, 9, 0))
    outside = LotState(1, 5, "Botox", "onsite", 5, 4, False)
    inside = LotState(2, 5, "Botox", "quarantine", 999, 3, False)
    assert domain.still_sellable(RECALL, outside)
    assert not domain.still_sellable(RECALL, inside)
    assert not domain.still_sellable(closed, outside)
    assert not domain.still_sellable(RECALL, LotState(3, 5, "Botox", "onsite", 5, 0, False))
