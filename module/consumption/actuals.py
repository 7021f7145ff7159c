"""Recorded actuals as the reconcile sees them (pure: no SQL).

Below both the consumption engine and the planned-versus-actual services: a recorded
actual is the stock target of its mapping, a named lot keeps the mapping's units in
that lot, and an edit on OpenEMR's fee sheet of an ``AUTO_PROC`` row is absorbed as
actual usage (:func:`absorb_edits`). :mod:`~aesthetic_inventory.usage` builds on this
module; nothing here imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from .domain import (
    Allocation,
    AllocationResult,
    HeldSale,
    Lot,
    MappingPlan,
    ReturnStep,
    plan_returns,
)

FEE_SHEET_REASON = "OTHER"
SOURCE_USAGE = "usage"
SOURCE_FEE_SHEET = "fee_sheet"


@dataclass(frozen=True)
class Actual:
    """What was really used for one visit and mapping, as recorded."""

    quantity: Decimal
    reason: str | None = None
    notes: str | None = None
    lot_id: int | None = None
    source: str = SOURCE_USAGE
    recorded_by: str = ""
    recorded_at: datetime | None = None

    def same_as(self, other: Actual | None) -> bool:
        """Whether recording ``self`` over ``other`` would change nothing that matters
        (who and when do not count: an identical update writes nothing)."""
        return other is not None and (
            self.quantity == other.quantity
            and self.reason == other.reason
            and (self.notes or None) == (other.notes or None)
            and self.lot_id == other.lot_id
        )


@dataclass(frozen=True)
class MappingRef:
    """A mapping of a billed code to a product."""

    mapping_id: int
    drug_id: int
    code_type: str
    code: str
    product_name: str


def plan_mapping_in_lot(
    mapping_id: int, drug_id: int, required: int, held: Sequence[HeldSale], lot_id: int
) -> MappingPlan:
    """Reconcile plan of a mapping whose units must sit in lot ``lot_id``: unbilled rows
    in other lots go back (they are not what was used), billed rows stay (frozen), the
    rest is taken from the named lot or returned to it, newest sale first."""
    held_total = sum(s.quantity for s in held)
    elsewhere = [s for s in held if s.inventory_id != lot_id and not s.billed and s.quantity > 0]
    moved_back = tuple(
        ReturnStep(s.sale_id, s.inventory_id, s.quantity, 0, s.lot_number)
        for s in sorted(elsewhere, key=lambda s: s.sale_id, reverse=True)
    )
    kept = [s for s in held if s not in elsewhere]
    kept_total = sum(s.quantity for s in kept)
    if required > kept_total:
        return MappingPlan(mapping_id, drug_id, required, held_total, required - kept_total,
                           moved_back)
    surplus = plan_returns(kept, kept_total - required) if required < kept_total else ()
    return MappingPlan(mapping_id, drug_id, required, held_total, 0, moved_back + surplus)


def allocate_from_lot(lot: Lot | None, drug_id: int, quantity: int) -> AllocationResult:
    """Take ``quantity`` units from the named lot only: as much as it holds (no other
    lot is used; the rest is a shortage). A lot of another product or destroyed since
    the actual was recorded gives nothing."""
    if quantity <= 0:
        return AllocationResult((), 0)
    if lot is None or lot.drug_id != drug_id or lot.destroyed or lot.on_hand <= 0:
        return AllocationResult((), quantity)
    take = min(quantity, lot.on_hand)
    return AllocationResult((Allocation(lot.inventory_id, take),), quantity - take)


@dataclass(frozen=True)
class FeeSheetEdit:
    """A change to an AUTO_PROC row made outside the module (queued by a trigger)."""

    edit_id: int
    mapping_id: int
    sale_id: int
    kind: str  # insert, update, delete
    old_quantity: int | None = None
    new_quantity: int | None = None
    username: str | None = None


def fee_sheet_actuals(
    edits: Sequence[FeeSheetEdit], held: Sequence[HeldSale], planned: dict[int, Decimal],
    now: datetime,
) -> dict[int, Actual]:
    """The actual of every mapping a fee-sheet edit touched: the units its rows hold
    now (a deleted line leaves 0), reason OTHER when it differs from the plan, notes
    naming the user where OpenEMR recorded one (a row re-sold by ``sellDrug``)."""
    by_mapping: dict[int, list[FeeSheetEdit]] = {}
    for edit in sorted(edits, key=lambda e: e.edit_id):
        by_mapping.setdefault(edit.mapping_id, []).append(edit)
    actuals: dict[int, Actual] = {}
    for mapping_id, group in by_mapping.items():
        units = Decimal(sum(s.quantity for s in held if s.mapping_id == mapping_id))
        users = [e.username for e in group if e.username]
        who = users[-1] if users else None
        notes = f"edited on the fee sheet by {who}" if who else "edited on the fee sheet"
        plan = planned.get(mapping_id, Decimal(0))
        actuals[mapping_id] = Actual(
            quantity=units.quantize(Decimal("0.0001")),
            reason=None if units == plan else FEE_SHEET_REASON,
            notes=notes,
            source=SOURCE_FEE_SHEET,
            recorded_by=who or "fee sheet",
            recorded_at=now,
        )
    return actuals



@dataclass(frozen=True)
class AbsorbedEdits:
    """What absorbing a visit's fee-sheet edits writes: each changed actual as
    (mapping, plan, previous actual, new actual), and the edits to delete."""

    changed: tuple[tuple[MappingRef, Decimal, Actual | None, Actual], ...]
    edit_ids: tuple[int, ...]

    @property
    def actuals(self) -> dict[int, Actual]:
        """The new actuals by mapping."""
        return {ref.mapping_id: new for ref, _plan, _old, new in self.changed}


def absorb_edits(
    edits: Sequence[FeeSheetEdit], held: Sequence[HeldSale], planned: dict[int, Decimal],
    refs: dict[int, tuple[int, str, str]], old: dict[int, Actual], now: datetime,
) -> AbsorbedEdits:
    """The fee-sheet edits of a visit's AUTO_PROC rows as actuals: the held units per
    touched mapping become its actual (unless that changes nothing); every edit is then
    spent. ``refs`` gives (drug_id, code_type, code) per mapping."""
    changed: list[tuple[MappingRef, Decimal, Actual | None, Actual]] = []
    for mapping_id, actual in fee_sheet_actuals(edits, held, planned, now).items():
        drug_id, code_type, code = refs.get(mapping_id, (0, "", ""))
        if not drug_id:
            continue  # a mapping that vanished: nothing to record against
        if not actual.same_as(old.get(mapping_id)):
            ref = MappingRef(mapping_id, drug_id, code_type, code, "")
            changed.append((ref, planned.get(mapping_id, Decimal(0)), old.get(mapping_id),
                            actual))
    return AbsorbedEdits(tuple(changed), tuple(e.edit_id for e in edits))
