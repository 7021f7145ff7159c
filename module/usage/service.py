"""Recording actuals: ``record_usage`` is seed 003's API 8.8: several materials of one
visit in one transaction, all or nothing, after which the visit is reconciled (the
consumption pipeline) so stock follows the actuals. Reading them back is
:mod:`~aesthetic_inventory.usage.show`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ..consumption.results import LotMovement, MappingOutcome
from ..consumption.service import reconcile_in_transaction
from ..errors import (
    ConfirmationRequiredError,
    InvalidInputError,
    NotFoundError,
    UnknownVisitError,
)
from ..stock.usable import is_expired
from ..unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
    retry_on_lock_conflict,
)
from .domain import (
    IMPLAUSIBLE_TIMES_PLAN,
    SOURCE_USAGE,
    Actual,
    adjustment_reason,
    check_named_lot,
    check_notes,
    check_reason,
    implausible_actual,
    parse_actual,
    target_units,
)
from .domain import decimal_text as _num
from .repository import HeldRow, MappingRef, UsageRepository, VisitRows


@dataclass(frozen=True)
class MaterialInput:
    """One material of a ``usage record`` request, named by its billed code (and product
    when the code maps to several) or by ``mapping_id`` (the web's ``usageId``: then the
    code is not read)."""

    code_type: str
    code: str
    actual: object  # parsed by the domain (a Decimal >= 0)
    product: int | None = None
    reason: str | None = None
    notes: str | None = None
    lot: str | None = None
    mapping_id: int | None = None


@dataclass(frozen=True)
class RecordedMaterial:
    mapping_id: int
    drug_id: int
    product: str
    code_type: str
    code: str
    planned: Decimal
    actual: Decimal
    variance: Decimal
    reason: str | None
    lot_id: int | None
    changed: bool


@dataclass(frozen=True)
class StockAdjustment:
    """Units a recorded actual moved: positive = taken, negative = given back."""

    mapping_id: int
    product: str
    adjustment: int
    reason: str
    lots: tuple[tuple[int, str | None, int], ...] = ()  # (inventory_id, lot number, units)


@dataclass(frozen=True)
class RecordResult:
    pid: int
    encounter: int
    materials: tuple[RecordedMaterial, ...]
    adjustments: tuple[StockAdjustment, ...]
    writes: int

    @property
    def updated(self) -> int:
        return sum(1 for m in self.materials if m.changed)

    def as_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "encounter": self.encounter,
            "materialsUpdated": self.updated,
            "materials": [
                {
                    "mappingId": m.mapping_id, "productId": m.drug_id, "product": m.product,
                    "code": f"{m.code_type}:{m.code}", "plannedQuantity": _num(m.planned),
                    "actualQuantity": _num(m.actual), "varianceQuantity": _num(m.variance),
                    "varianceReason": m.reason, "lotId": m.lot_id, "changed": m.changed,
                }
                for m in self.materials
            ],
            "stockAdjustments": [
                {
                    "mappingId": a.mapping_id, "itemName": a.product,
                    "adjustment": a.adjustment, "reason": a.reason,
                    "lots": [{"inventoryId": i, "lotNumber": n, "quantity": q}
                             for i, n, q in a.lots],
                }
                for a in self.adjustments
            ],
            "note": PLAN_NOTE,
        }


PLAN_NOTE = (
    "a recorded actual is the stock target of its mapping from now on; changing the "
    "billing lines later changes the plan, not the actual"
)


def _by_mapping_id(visit: VisitRows, mapping_id: int) -> MappingRef:
    """The visit's mapping ``mapping_id`` (no read: the visit's rows hold it)."""
    found = visit.mapping(mapping_id)
    if found is None:
        raise NotFoundError(f"Material usage not found: {mapping_id}")
    ref = found.ref
    if found.plan is None and not found.still_mapped:
        raise InvalidInputError(f"no product is mapped to code {ref.code_type}:{ref.code}")
    return ref


def _resolve(
    repo: UsageRepository, material: MaterialInput, visit: VisitRows, pid: int,
    encounter: int,
) -> MappingRef:
    """The visit's mapping a material names (mapping id, or code and product when
    several)."""
    if material.mapping_id is not None:
        return _by_mapping_id(visit, material.mapping_id)
    live, records = visit.live(), visit.records()
    label = f"{material.code_type}:{material.code}"
    refs = repo.mappings_of_code(material.code_type, material.code)
    if not refs:
        raise InvalidInputError(f"no product is mapped to code {label}")
    if material.product is not None:
        refs = [r for r in refs if r.drug_id == material.product]
        if not refs:
            raise InvalidInputError(f"product {material.product} is not mapped to code {label}")
    on_visit = [r for r in refs if r.mapping_id in live or r.mapping_id in records]
    if not on_visit:
        raise InvalidInputError(
            f"code {label} is not billed on visit pid {pid} encounter {encounter}"
        )
    if len(on_visit) > 1:
        choices = ", ".join(f"{r.drug_id} ({r.product_name})" for r in on_visit)
        raise InvalidInputError(f"code {label} maps to several products; pass --product "
                                f"one of {choices}")
    return on_visit[0]


def record_in_transaction(
    uow: UnitOfWork, pid: int, encounter: int, materials: Sequence[MaterialInput], *,
    user: str, service_username: str, now: datetime | None = None,
    today: date | None = None, confirmed: bool = False, user_verified: bool = False,
) -> RecordResult:
    """Record the actuals inside the caller's unit of work (entered; no commit), then
    reconcile the visit so stock follows them. Any invalid material raises before
    anything is written (the caller rolls back what the reconcile did when an actual
    turns out to be more than the visit holds plus usable stock). Implausible actuals
    (far above the plan, an expired lot named) raise
    :class:`ConfirmationRequiredError` unless ``confirmed``. ``user_verified``: the
    caller already checked that ``user`` is an active OpenEMR user (the web's session
    check does, on every request)."""
    if not materials:
        raise InvalidInputError("no material given")
    if not user or not user.strip():
        raise InvalidInputError("the OpenEMR username of who records is required (--user)")
    now = (now or datetime.now()).replace(microsecond=0)
    repo = uow.get(UsageRepository)
    if not user_verified and not repo.is_active_user(user.strip()):
        raise InvalidInputError(f"user {user.strip()!r} is not an active OpenEMR user")
    if not repo.lock_visit(pid, encounter):
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    visit = _visit_rows(repo, pid, encounter, today)
    if visit.pending_edits:
        # edits made on OpenEMR's fee sheet before this record are older than it: absorb
        # them first (they become the actual), so this record is the one that stands
        reconcile_in_transaction(uow, pid, encounter, service_username=service_username,
                                 today=today)
        visit = _visit_rows(repo, pid, encounter, today)
    decided = _decide(repo, materials, visit, pid, encounter, user.strip(), now)
    if not confirmed:
        _require_confirmation(repo, decided, today or date.today())
    changed = [(ref, planned, new) for ref, planned, _old, new, ch in decided if ch]
    writes = repo.write_actuals(pid, encounter, changed, now)
    writes += repo.append_history(
        pid, encounter, [(ref, planned, old, new) for ref, planned, old, new, ch in decided if ch],
        now,
    )
    result = reconcile_in_transaction(
        uow, pid, encounter, service_username=service_username, today=today,
        actor=user.strip(),
    )
    writes += result.writes
    _refuse_what_was_not_there(decided, result.lines)
    recorded = tuple(
        RecordedMaterial(ref.mapping_id, ref.drug_id, ref.product_name, ref.code_type, ref.code,
                         planned, new.quantity, new.quantity - planned, new.reason, new.lot_id,
                         ch)
        for ref, planned, _old, new, ch in decided
    )
    adjustments = _adjustments([ref for ref, *_rest in decided], result.lines)
    return RecordResult(pid, encounter, recorded, adjustments, writes)


Decision = tuple[MappingRef, Decimal, Actual | None, Actual, bool]
"""(mapping, plan, previous actual, new actual, whether it changes anything)."""


def _visit_rows(repo: UsageRepository, pid: int, encounter: int,
                today: date | None) -> VisitRows:
    visit = repo.visit_rows(pid, encounter, today or date.today())
    if visit is None:  # the row is locked: only a broken unit of work gets here
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    return visit


def _decide(
    repo: UsageRepository, materials: Sequence[MaterialInput], visit: VisitRows, pid: int,
    encounter: int, user: str, now: datetime,
) -> list[Decision]:
    """Each material checked against the visit (its mapping, actual, reason, notes and
    named lot); any invalid one raises before anything is written. The visit's rows are
    read only when a lot is named."""
    live, records = visit.live(), visit.records()
    held: list[HeldRow] | None = None
    decided: list[Decision] = []
    seen: set[int] = set()
    for material in materials:
        ref = _resolve(repo, material, visit, pid, encounter)
        label = (f"{material.code_type}:{material.code}" if material.mapping_id is None
                 else f"{ref.code_type}:{ref.code}")
        if ref.mapping_id in seen:
            raise InvalidInputError(f"code {label} (product {ref.drug_id}) is given twice")
        seen.add(ref.mapping_id)
        planned = live[ref.mapping_id][1] if ref.mapping_id in live else Decimal(0)
        quantity = parse_actual(material.actual)
        reason = check_reason(planned, quantity, material.reason)
        notes = check_notes(material.notes)
        lot_id = None
        if material.lot is not None and material.lot.strip():
            if held is None:
                held = repo.held_rows(pid, encounter)
            lot_id = _check_lot(repo, material.lot.strip(), ref, quantity, held, label)
        old = records[ref.mapping_id].actual if ref.mapping_id in records else None
        new = Actual(quantity, reason, notes, lot_id, SOURCE_USAGE, user, now)
        decided.append((ref, planned, old, new, not new.same_as(old)))
    return decided


def _require_confirmation(repo: UsageRepository, decided: Sequence[Decision],
                          today: date) -> None:
    """Refuse, until confirmed, an actual far above its plan or an expired lot named as
    the one used (legal, but most likely a typo or the wrong box)."""
    changed = [d for d in decided if d[4]]
    # the package size matters only above 3x the plan: no read on the common path
    sizes = repo.package_sizes(ref.drug_id for ref, planned, _old, new, _ch in changed
                               if new.quantity > IMPLAUSIBLE_TIMES_PLAN * planned)
    why = []
    for ref, planned, _old, new, _ch in changed:
        label = f"{ref.code_type}:{ref.code} ({ref.product_name})"
        implausible = implausible_actual(planned, new.quantity, sizes.get(ref.drug_id, 1))
        if implausible:
            why.append(f"{label}: {implausible}")
        if new.lot_id is not None:
            lot = repo.lots_named(f"#{new.lot_id}")
            if lot and is_expired(lot[0].expiration, today):
                why.append(f"{label}: lot {lot[0].lot_number or new.lot_id} is expired")
    if why:
        raise ConfirmationRequiredError("; ".join(why) + "; confirm to record it")


def _refuse_what_was_not_there(decided: Sequence[Decision],
                               lines: Sequence[MappingOutcome]) -> None:
    """An actual the visit's rows and the usable stock cannot cover would leave a
    shortage that takes future receipts: nobody can have used what was not there."""
    outcomes = {line.mapping_id: line for line in lines}
    for ref, _planned, _old, new, changed in decided:
        line = outcomes.get(ref.mapping_id)
        if changed and line is not None and line.shortage > 0:
            raise InvalidInputError(
                f"{ref.code_type}:{ref.code} ({ref.product_name}): actual "
                f"{_num(new.quantity)} is more than this visit holds plus usable stock "
                f"({line.allocated}); nobody can have used what was not there: if the "
                "shelf holds more, record it first with 'aesthetic-inventory count'"
            )


def _adjustments(
    refs: Sequence[MappingRef], lines: Sequence[MappingOutcome]
) -> tuple[StockAdjustment, ...]:
    """The units the reconcile moved for each recorded material (seed 003 wording)."""
    outcomes = {line.mapping_id: line for line in lines}
    adjustments = []
    for ref in refs:
        line = outcomes.get(ref.mapping_id)
        units = (line.added - line.returned) if line else 0
        lots = _per_lot(line.lots) if line else ()
        adjustments.append(StockAdjustment(ref.mapping_id, ref.product_name, units,
                                           adjustment_reason(units), lots))
    return tuple(adjustments)


def _per_lot(moves: Sequence[LotMovement]) -> tuple[tuple[int, str | None, int], ...]:
    """Movements summed per lot and direction (two rows given back to one lot are one
    line), in the order they happened."""
    out: dict[tuple[int, bool], tuple[int, str | None, int]] = {}
    for m in moves:
        key = (m.inventory_id, m.quantity > 0)
        inventory_id, number, total = out.get(key, (m.inventory_id, m.lot_number, 0))
        out[key] = (inventory_id, number, total + m.quantity)
    return tuple(out.values())


def _check_lot(repo: UsageRepository, lot: str, ref: MappingRef, quantity: Decimal,
               held: Sequence[HeldRow], label: str) -> int:
    """The inventory id of the named lot, refused when unknown, of another product,
    destroyed, or short."""
    lots = repo.lots_named(lot)
    mine = [x for x in lots if x.drug_id == ref.drug_id]
    chosen = mine[0] if mine else (lots[0] if lots else None)
    if chosen is None:
        raise InvalidInputError(f"{label}: no lot {lot!r}")
    held_in_lot = sum(
        h.quantity for h in held
        if h.mapping_id == ref.mapping_id and h.inventory_id == chosen.inventory_id
    )
    check_named_lot(chosen, drug_id=ref.drug_id, units=target_units(Decimal(0), quantity),
                    held_in_lot=held_in_lot, label=label)
    return chosen.inventory_id


def require_active_user(uow_factory: UnitOfWorkFactory, username: str) -> None:
    """Refuse a recorder who is not an active OpenEMR user (``users.active = 1``)."""
    with uow_factory() as uow:
        if not uow.get(UsageRepository).is_active_user(username.strip()):
            raise InvalidInputError(f"user {username.strip()!r} is not an active OpenEMR user")


def record_usage(
    uow_factory: UnitOfWorkFactory, pid: int, encounter: int,
    materials: Sequence[MaterialInput], *, user: str, service_username: str,
    today: date | None = None, confirmed: bool = False, user_verified: bool = False,
) -> RecordResult:
    """Record actuals for a visit in one transaction (all or nothing) and reconcile it,
    retrying the whole transaction on deadlock or lock wait timeout."""
    factory = uow_factory

    def work() -> RecordResult:
        with factory() as uow:
            result = record_in_transaction(
                uow, pid, encounter, materials, user=user,
                service_username=service_username, today=today, confirmed=confirmed,
                user_verified=user_verified,
            )
            uow.commit()
            return result

    return retry_on_lock_conflict(work)

