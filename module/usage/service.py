"""Planned-versus-actual services: record actuals, show a visit's materials, history.

``record_usage`` is seed 003's API 8.8: several materials of one visit in one
transaction, all or nothing, after which the visit is reconciled so stock follows the
actuals. ``show_usage`` is API 8.7. Whether cost fields are filled is decided by the
caller (``can_see_costs``, from OpenEMR's ACL); without permission they are None.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.engine import Connection, Engine

from ..acl import Grants
from ..acl import user_grants as acl_user_grants
from ..errors import InvalidInputError, PermissionDeniedError, UnknownVisitError
from ..unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
    retry_on_lock_conflict,
    unit_of_work_factory,
)
from .domain import (
    SOURCE_USAGE,
    Actual,
    FeeSheetEdit,
    adjustment_reason,
    check_named_lot,
    check_notes,
    check_reason,
    cost,
    fee_sheet_actuals,
    parse_actual,
    stock_status,
    target_units,
    variance,
)
from .repository import HistoryRow, MappingRef, StoredRecord, UsageRepository


@dataclass(frozen=True)
class MaterialInput:
    """One material of a ``usage record`` request."""

    code_type: str
    code: str
    actual: object  # parsed by the domain (a Decimal >= 0)
    product: int | None = None
    reason: str | None = None
    notes: str | None = None
    lot: str | None = None


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


def _num(value: Decimal | None) -> str | None:
    """Decimals as strings in JSON (no float rounding), trailing zeros trimmed."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return "0" if text in ("-0", "") else text


def _resolve(
    repo: UsageRepository, material: MaterialInput,
    live: dict[int, tuple[MappingRef, Decimal]], records: dict[int, StoredRecord],
    pid: int, encounter: int,
) -> MappingRef:
    """The visit's mapping a material names (code, and product when several)."""
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
    today: date | None = None,
) -> RecordResult:
    """Record the actuals inside the caller's unit of work (entered; no commit), then
    reconcile the visit so stock follows them. Any invalid material raises before
    anything is written."""
    from ..consumption.service import reconcile_in_transaction

    if not materials:
        raise InvalidInputError("no material given")
    if not user or not user.strip():
        raise InvalidInputError("the OpenEMR username of who records is required (--user)")
    now = (now or datetime.now()).replace(microsecond=0)
    repo = uow.get(UsageRepository)
    if not repo.lock_visit(pid, encounter):
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    if repo.has_pending_edits(pid, encounter):
        # edits made on OpenEMR's fee sheet before this record are older than it: absorb
        # them first (they become the actual), so this record is the one that stands
        reconcile_in_transaction(uow, pid, encounter, service_username=service_username,
                                 today=today)
    live = repo.live_planned(pid, encounter)
    records = repo.records(pid, encounter)
    held = repo.held_rows(pid, encounter)
    decided: list[tuple[MappingRef, Decimal, Actual | None, Actual, bool]] = []
    seen: set[int] = set()
    for material in materials:
        ref = _resolve(repo, material, live, records, pid, encounter)
        label = f"{material.code_type}:{material.code}"
        if ref.mapping_id in seen:
            raise InvalidInputError(f"code {label} (product {ref.drug_id}) is given twice")
        seen.add(ref.mapping_id)
        planned = live[ref.mapping_id][1] if ref.mapping_id in live else Decimal(0)
        quantity = parse_actual(material.actual)
        reason = check_reason(planned, quantity, material.reason)
        notes = check_notes(material.notes)
        lot_id = None
        if material.lot is not None and material.lot.strip():
            lot_id = _check_lot(repo, material.lot.strip(), ref, quantity, held, label)
        old = records[ref.mapping_id].actual if ref.mapping_id in records else None
        new = Actual(quantity, reason, notes, lot_id, SOURCE_USAGE, user.strip(), now)
        decided.append((ref, planned, old, new, not new.same_as(old)))
    changed = [(ref, planned, new) for ref, planned, _old, new, ch in decided if ch]
    writes = repo.write_actuals(pid, encounter, changed, now)
    writes += repo.append_history(
        pid, encounter, [(ref, planned, old, new) for ref, planned, old, new, ch in decided if ch],
        now,
    )
    result = reconcile_in_transaction(
        uow, pid, encounter, service_username=service_username, today=today
    )
    writes += result.writes
    outcomes = {line.mapping_id: line for line in result.lines}
    adjustments = []
    for ref, *_rest in decided:
        line = outcomes.get(ref.mapping_id)
        units = (line.added - line.returned) if line else 0
        lots = _per_lot(line.lots) if line else ()
        adjustments.append(StockAdjustment(ref.mapping_id, ref.product_name, units,
                                           adjustment_reason(units), lots))
    recorded = tuple(
        RecordedMaterial(ref.mapping_id, ref.drug_id, ref.product_name, ref.code_type, ref.code,
                         planned, new.quantity, new.quantity - planned, new.reason, new.lot_id,
                         ch)
        for ref, planned, _old, new, ch in decided
    )
    return RecordResult(pid, encounter, recorded, tuple(adjustments), writes)


def _per_lot(moves: Sequence[object]) -> tuple[tuple[int, str | None, int], ...]:
    """Movements summed per lot and direction (two rows given back to one lot are one
    line), in the order they happened."""
    out: dict[tuple[int, bool], list] = {}  # type: ignore[type-arg]
    for m in moves:
        key = (m.inventory_id, m.quantity > 0)  # type: ignore[attr-defined]
        if key in out:
            out[key][2] += m.quantity  # type: ignore[attr-defined]
        else:
            out[key] = [m.inventory_id, m.lot_number, m.quantity]  # type: ignore[attr-defined]
    return tuple((int(i), n, int(q)) for i, n, q in out.values())


def _check_lot(repo: UsageRepository, lot: str, ref: MappingRef, quantity: Decimal,
               held: Sequence[object], label: str) -> int:
    """The inventory id of the named lot, refused when unknown, of another product,
    destroyed, or short."""
    lots = repo.lots_named(lot)
    mine = [x for x in lots if x.drug_id == ref.drug_id]
    chosen = mine[0] if mine else (lots[0] if lots else None)
    if chosen is None:
        raise InvalidInputError(f"{label}: no lot {lot!r}")
    held_in_lot = sum(
        h.quantity for h in held  # type: ignore[attr-defined]
        if h.mapping_id == ref.mapping_id and h.inventory_id == chosen.inventory_id  # type: ignore[attr-defined]
    )
    check_named_lot(chosen, drug_id=ref.drug_id, units=target_units(Decimal(0), quantity),
                    held_in_lot=held_in_lot, label=label)
    return chosen.inventory_id


def record_usage(
    uow_factory: UnitOfWorkFactory | Engine, pid: int, encounter: int,
    materials: Sequence[MaterialInput], *, user: str, service_username: str,
    today: date | None = None,
) -> RecordResult:
    """Record actuals for a visit in one transaction (all or nothing) and reconcile it,
    retrying the whole transaction on deadlock or lock wait timeout."""
    factory = unit_of_work_factory(uow_factory)

    def work() -> RecordResult:
        with factory() as uow:
            result = record_in_transaction(
                uow, pid, encounter, materials, user=user,
                service_username=service_username, today=today,
            )
            uow.commit()
            return result

    return retry_on_lock_conflict(work)


def absorb_fee_sheet_edits(
    conn: Connection, pid: int, encounter: int, edits: Sequence[FeeSheetEdit],
    held: Sequence[object], planned: dict[int, Decimal],
    refs: dict[int, tuple[int, str, str]], old: dict[int, Actual | None],
    now: datetime | None = None,
) -> dict[int, Actual]:
    """Record fee-sheet edits of AUTO_PROC rows as actuals (inside the reconcile's
    transaction, after it locked the visit and its rows): the held units per touched
    mapping become its actual, a history row says so, the edits are deleted. ``refs``
    gives (drug_id, code_type, code) per mapping. Returns the new actuals by mapping."""
    if not edits:
        return {}
    now = (now or datetime.now()).replace(microsecond=0)
    repo = UsageRepository(conn)
    actuals = fee_sheet_actuals(edits, held, planned, now)  # type: ignore[arg-type]
    rows = []
    history = []
    for mapping_id, actual in actuals.items():
        drug_id, code_type, code = refs.get(mapping_id, (0, "", ""))
        if not drug_id:
            continue  # a mapping that vanished: nothing to record against
        ref = MappingRef(mapping_id, drug_id, code_type, code, "")
        plan = planned.get(mapping_id, Decimal(0))
        if not actual.same_as(old.get(mapping_id)):
            rows.append((ref, plan, actual))
            history.append((ref, plan, old.get(mapping_id), actual))
    repo.write_actuals(pid, encounter, rows, now)
    repo.append_history(pid, encounter, history, now)
    repo.delete_edits(e.edit_id for e in edits)
    return {ref.mapping_id: a for ref, _p, a in rows}


# -- usage show -------------------------------------------------------------------------


@dataclass(frozen=True)
class MaterialView:
    mapping_id: int
    drug_id: int
    product: str
    code_type: str
    code: str
    category: str
    planned: Decimal
    actual: Decimal | None
    variance: Decimal | None
    reason: str | None
    unit: str
    unit_cost: Decimal | None
    planned_cost: Decimal | None
    actual_cost: Decimal | None
    stock_status: str
    current_stock: int
    required_units: int
    held_units: int
    recorded_by: str | None
    recorded_at: datetime | None
    notes: str | None
    source: str | None
    actual_lot: str | None
    lots: tuple[tuple[int, str | None, int, bool], ...]  # (inventory_id, lot, units, billed)


@dataclass(frozen=True)
class VisitUsage:
    pid: int
    encounter: int
    can_see_costs: bool
    materials: tuple[MaterialView, ...]
    history: tuple[HistoryRow, ...] = field(default=())
    product_names: dict[int, str] = field(default_factory=dict)

    @property
    def total_planned_cost(self) -> Decimal | None:
        if not self.can_see_costs:
            return None
        return sum((m.planned_cost or Decimal(0) for m in self.materials), Decimal("0.00"))

    @property
    def total_actual_cost(self) -> Decimal | None:
        """Actual cost; a material without a recorded actual counts at its plan."""
        if not self.can_see_costs:
            return None
        return sum(
            ((m.actual_cost if m.actual is not None else m.planned_cost) or Decimal(0)
             for m in self.materials),
            Decimal("0.00"),
        )

    @property
    def cost_variance(self) -> Decimal | None:
        if self.total_actual_cost is None or self.total_planned_cost is None:
            return None
        return self.total_actual_cost - self.total_planned_cost

    def as_dict(self) -> dict[str, object]:
        def money(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "pid": self.pid,
            "encounter": self.encounter,
            "costsVisible": self.can_see_costs,
            "materials": [
                {
                    "mappingId": m.mapping_id, "itemId": m.drug_id, "itemName": m.product,
                    "code": f"{m.code_type}:{m.code}", "categoryName": m.category,
                    "plannedQuantity": _num(m.planned), "actualQuantity": _num(m.actual),
                    "varianceQuantity": _num(m.variance), "varianceReason": m.reason,
                    "unitName": m.unit, "unitPrice": money(m.unit_cost),
                    "totalPlannedCost": money(m.planned_cost),
                    "totalActualCost": money(m.actual_cost),
                    "stockStatus": m.stock_status, "currentStock": m.current_stock,
                    "requiredUnits": m.required_units, "heldUnits": m.held_units,
                    "recordedAt": None if m.recorded_at is None else m.recorded_at.isoformat(),
                    "recordedBy": m.recorded_by, "notes": m.notes, "source": m.source,
                    "actualLot": m.actual_lot,
                    "lots": [{"inventoryId": i, "lotNumber": n, "quantity": q, "billed": b}
                             for i, n, q, b in m.lots],
                }
                for m in self.materials
            ],
            "totalPlannedCost": money(self.total_planned_cost),
            "totalActualCost": money(self.total_actual_cost),
            "costVariance": money(self.cost_variance),
            "history": [
                {
                    "mappingId": h.mapping_id, "itemName": self.product_names.get(h.drug_id, ""),
                    "plannedQuantity": _num(h.planned_quantity),
                    "oldActual": _num(h.old_actual), "newActual": _num(h.new_actual),
                    "oldReason": h.old_reason, "newReason": h.new_reason,
                    "oldNotes": h.old_notes, "newNotes": h.new_notes,
                    "oldLotId": h.old_lot_id, "newLotId": h.new_lot_id, "source": h.source,
                    "changedBy": h.changed_by, "changedAt": h.changed_at.isoformat(),
                }
                for h in self.history
            ],
        }


def show_usage(uow_factory: UnitOfWorkFactory | Engine, pid: int, encounter: int, *,
               can_see_costs: bool) -> VisitUsage:
    """Per mapping of the visit: plan, actual, variance, reason, costs (only when
    ``can_see_costs``), stock status, the lots its rows hold, and the change history."""
    with unit_of_work_factory(uow_factory)() as uow:
        repo = uow.get(UsageRepository)
        if not repo.visit_exists(pid, encounter):
            raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
        live = repo.live_planned(pid, encounter)
        records = repo.records(pid, encounter)
        held = repo.held_rows(pid, encounter)
        history = repo.history(pid, encounter)
        drug_ids = {ref.drug_id for ref, _ in live.values()}
        drug_ids |= {r.drug_id for r in records.values()} | {h.drug_id for h in history}
        products = repo.products(drug_ids)
        lot_names = repo.lot_numbers(
            r.actual.lot_id for r in records.values() if r.actual and r.actual.lot_id
        )
    held_by: dict[int, list] = defaultdict(list)  # type: ignore[type-arg]
    for h in held:
        held_by[h.mapping_id].append(h)
    views = []
    for mapping_id in sorted(set(live) | set(records)):
        rec = records.get(mapping_id)
        if mapping_id in live:
            ref, planned = live[mapping_id]
            drug_id, code_type, code = ref.drug_id, ref.code_type, ref.code
        else:
            assert rec is not None
            planned, drug_id, code_type, code = Decimal(0), rec.drug_id, rec.code_type, rec.code
        actual = rec.actual if rec else None
        if actual is None and not held_by.get(mapping_id) and planned == 0:
            continue  # a mapping that neither needs nor holds anything
        info = products.get(drug_id)
        unit_cost = info.unit_cost if info else None
        quantity = actual.quantity if actual else None
        rows = held_by.get(mapping_id, [])
        views.append(MaterialView(
            mapping_id=mapping_id, drug_id=drug_id, product=info.name if info else "",
            code_type=code_type, code=code, category=info.category if info else "",
            planned=planned, actual=quantity, variance=variance(planned, quantity),
            reason=actual.reason if actual else None, unit=info.unit if info else "",
            unit_cost=unit_cost if can_see_costs else None,
            planned_cost=cost(planned, unit_cost, can_see_costs),
            actual_cost=cost(quantity, unit_cost, can_see_costs),
            stock_status=stock_status(info.current_stock if info else 0,
                                      info.reorder_point if info else None),
            current_stock=info.current_stock if info else 0,
            required_units=target_units(planned, quantity),
            held_units=sum(r.quantity for r in rows),
            recorded_by=actual.recorded_by if actual else None,
            recorded_at=actual.recorded_at if actual else None,
            notes=actual.notes if actual else None,
            source=actual.source if actual else None,
            actual_lot=(lot_names.get(actual.lot_id) or f"#{actual.lot_id}")
            if actual and actual.lot_id else None,
            lots=tuple((r.inventory_id, r.lot_number, r.quantity, r.billed) for r in rows),
        ))
    names = {d: p.name for d, p in products.items()}
    return VisitUsage(pid, encounter, can_see_costs, tuple(views), tuple(history), names)


def user_grants(uow_factory: UnitOfWorkFactory | Engine, username: str) -> Grants:
    """What OpenEMR's ACL lets ``username`` do in the module (phpGACL check of
    :mod:`aesthetic_inventory.acl`). Costs need ``VIEW_COSTS``: inventory/purchases or
    acct/rep_a (admin/drugs alone is not enough: OpenEMR's installer grants it to
    physicians and clinicians, and seed 003 hides costs from them)."""
    return acl_user_grants(unit_of_work_factory(uow_factory), username)


def costs_visible(engine: Engine, username: str) -> bool:
    """Whether OpenEMR's ACL lets ``username`` see costs."""
    return user_grants(engine, username).view_costs


def require_update_permission(engine: Engine, username: str) -> Grants:
    """Refuse a user whom OpenEMR's ACL does not allow to record actual usage (seed 003:
    front office and accounting may not; inventory/consumption or admin/drugs)."""
    grants = user_grants(engine, username)
    if not grants.update_materials:
        raise PermissionDeniedError(
            f"user {username!r} may not record usage: OpenEMR's access control grants "
            "neither inventory/consumption nor admin/drugs"
        )
    return grants


def require_view_permission(engine: Engine, username: str) -> Grants:
    """Refuse a user whom OpenEMR's ACL does not allow to see a visit's materials."""
    grants = user_grants(engine, username)
    if not grants.view_materials:
        raise PermissionDeniedError(
            f"user {username!r} may not view materials under OpenEMR's access control"
        )
    return grants
