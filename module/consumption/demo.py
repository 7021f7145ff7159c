"""The consumption step of ``aesthetic-inventory demo``: a fee-sheet save that deducts stock."""

from __future__ import annotations

from datetime import date

from sqlalchemy.engine import Engine

from ..errors import InvalidInputError
from ..unit_of_work import UnitOfWork
from .fee_sheet import FeeSheetChanges, NewLine, save_fee_sheet
from .presentation import describe_result
from .repositories import FeeSheetRepository
from .results import ReconcileResult

DEMO_PID = 1
DEMO_LINES = (NewLine("CPT4", "15828", 2), NewLine("CPT4", "11950", 1))


def demo_fee_sheet(
    engine: Engine, *, service_username: str, visit_date: date | None = None
) -> ReconcileResult:
    """Create a visit (``form_encounter`` row) and save a fee sheet with 2 units of
    CPT4 15828 (Botox) and 1 of 11950 (filler) through the fee-sheet API.

    Needs the sample data (its mappings); the result lists what each mapping took
    from which lot.
    """
    uow = UnitOfWork(engine)
    with uow:
        if not uow.get(FeeSheetRepository).codes_mapped("CPT4", [line.code for line in DEMO_LINES]):
            raise InvalidInputError("the demo fee sheet needs the sample data: run load-sample")
        encounter = uow.get(FeeSheetRepository).open_visit(
            DEMO_PID, visit_date or date.today(), "Aesthetic Inventory demo visit"
        )
        uow.commit()
    _, result = save_fee_sheet(
        uow,
        DEMO_PID,
        encounter,
        FeeSheetChanges(add=DEMO_LINES),
        service_username=service_username,
    )
    return result


def demo_fee_sheet_lines(
    engine: Engine, *, service_username: str, visit_date: date | None = None
) -> list[str]:
    """:func:`demo_fee_sheet` rendered as text lines (for a ``DemoStep``'s ``run``)."""
    codes = ", ".join(f"{n.units} x {n.code_type} {n.code}" for n in DEMO_LINES)
    lines = [f"Saving a fee sheet for a new visit: {codes}"]
    result = demo_fee_sheet(engine, service_username=service_username, visit_date=visit_date)
    return lines + describe_result(result)
