"""Planned versus actual of one visit, read-only (``usage show``, API 8.7), and who may
see or record it (OpenEMR's ACL). Whether cost fields are filled is decided by the
caller (``can_see_costs``); without permission they are None."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from ..acl import Grants
from ..acl import user_grants as acl_user_grants
from ..errors import PermissionDeniedError, UnknownVisitError
from ..unit_of_work import UnitOfWorkFactory
from .domain import cost, stock_status, target_units, variance
from .domain import decimal_text as _num
from .repository import HeldRow, HistoryRow, UsageRepository


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


# long: one read unit of work, then one MaterialView per mapping with all its fields
def show_usage(uow_factory: UnitOfWorkFactory, pid: int, encounter: int, *,
               can_see_costs: bool, today: date | None = None) -> VisitUsage:
    """Per mapping of the visit: plan, actual, variance, reason, costs (only when
    ``can_see_costs``), stock status and usable stock (as ``stock`` counts it on
    ``today``), the lots its rows hold, and the change history."""
    with uow_factory() as uow:
        repo = uow.get(UsageRepository)
        if not repo.visit_exists(pid, encounter):
            raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
        live = repo.live_planned(pid, encounter)
        records = repo.records(pid, encounter)
        held = repo.held_rows(pid, encounter)
        history = repo.history(pid, encounter)
        drug_ids = {ref.drug_id for ref, _ in live.values()}
        drug_ids |= {r.drug_id for r in records.values()} | {h.drug_id for h in history}
        products = repo.products(drug_ids, today or date.today())
        lot_names = repo.lot_numbers(
            r.actual.lot_id for r in records.values() if r.actual and r.actual.lot_id
        )
    held_by: dict[int, list[HeldRow]] = defaultdict(list)
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


def user_grants(uow_factory: UnitOfWorkFactory, username: str) -> Grants:
    """What OpenEMR's ACL lets ``username`` do in the module (phpGACL check of
    :mod:`aesthetic_inventory.acl`). Costs need ``VIEW_COSTS``: inventory/purchases or
    acct/rep_a (admin/drugs alone is not enough: OpenEMR's installer grants it to
    physicians and clinicians, and seed 003 hides costs from them)."""
    return acl_user_grants(uow_factory, username)


def costs_visible(uow_factory: UnitOfWorkFactory, username: str) -> bool:
    """Whether OpenEMR's ACL lets ``username`` see costs."""
    return user_grants(uow_factory, username).view_costs


def require_update_permission(uow_factory: UnitOfWorkFactory, username: str) -> Grants:
    """Refuse a user whom OpenEMR's ACL does not allow to record actual usage (seed 003:
    front office and accounting may not; inventory/consumption or admin/drugs)."""
    grants = user_grants(uow_factory, username)
    if not grants.update_materials:
        raise PermissionDeniedError(
            f"user {username!r} may not record usage: OpenEMR's access control grants "
            "neither inventory/consumption nor admin/drugs"
        )
    return grants


def require_view_permission(uow_factory: UnitOfWorkFactory, username: str) -> Grants:
    """Refuse a user whom OpenEMR's ACL does not allow to see a visit's materials."""
    grants = user_grants(uow_factory, username)
    if not grants.view_materials:
        raise PermissionDeniedError(
            f"user {username!r} may not view materials under OpenEMR's access control"
        )
    return grants
