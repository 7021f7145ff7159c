"""The text lines the CLI and the demo show for a reconcile."""

from __future__ import annotations

from decimal import Decimal

from aesthetic_inventory.consumption.presentation import describe_result
from aesthetic_inventory.consumption.results import LotMovement, MappingOutcome, ReconcileResult


def test_describe_result_shows_lots_returns_and_shortage() -> None:
    result = ReconcileResult(
        1, 7,
        (
            MappingOutcome(3, 9, "CPT4", "15828", Decimal("2.5000"), 3, 2, 1, 2, 0,
                           (LotMovement(11, "B1", 2),), "Botox"),
            MappingOutcome(4, 8, "", "", Decimal(0), 0, 0, 0, 0, 1,
                           (LotMovement(12, None, -1),)),
            MappingOutcome(5, 6, "CPT4", "99", Decimal(1), 1, 1, 0, 1, 0,
                           (LotMovement(0, None, 1),), "Outside Rx"),
        ),
        writes=4, changed=True,
    )
    assert describe_result(result) == [
        "visit pid 1 encounter 7: stock changed",
        "  CPT4 15828 -> Botox: planned 2.5, required 3, allocated 2, SHORTAGE 1",
        "    took 2 from lot B1 (inventory 11)",
        "  mapping 4 (deleted) -> product 8: planned 0, required 0, allocated 0",
        "    returned 1 to lot [no lot number] (inventory 12)",
        "  CPT4 99 -> Outside Rx: planned 1, required 1, allocated 1",
        "    took 1 from no lot (product not dispensable)",
    ]


def test_describe_unchanged_visit_without_mappings() -> None:
    assert describe_result(ReconcileResult(1, 7, (), 0, False)) == [
        "visit pid 1 encounter 7: already up to date, nothing written",
        "  no mapped procedures on this visit",
    ]
