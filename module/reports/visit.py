"""What a visit took and what a reconcile would do, without writing: ``visit show``,
``consume --dry-run`` and ``sync --dry-run``.

The plan is the reconcile's own pipeline with the writes left out
(:func:`~aesthetic_inventory.consumption.service.preview_in_transaction`: the same facts,
the same :func:`~aesthetic_inventory.consumption.visit_plan.plan_visit`, the same lot
snapshot), on plain reads inside a read-only transaction: nothing is locked and nothing
can be written. A real reconcile re-reads everything under its locks, so only a
concurrent save between the two can make it differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from ..consumption.domain import LotPolicy, parse_selector
from ..consumption.repositories import ConsumptionRepository, SweepRepository
from ..consumption.results import MappingOutcome, ReconcileResult
from ..consumption.service import preview_in_transaction
from ..consumption.settled import unsettled_visits
from ..errors import UnknownVisitError
from .formatting import jsonable
from .repository import ReportRepository
from .visit_repository import VisitRepository


@dataclass(frozen=True)
class BillingLine:
    """One fee-sheet line and one of the products its code maps to."""

    line_id: int
    code_type: str
    code: str
    units: int
    live: bool
    billed: bool
    mapping_id: int | None
    drug_id: int | None
    product: str
    per_unit: Decimal | None

    @property
    def exact(self) -> Decimal | None:
        """Units x quantity per unit, before the per-visit rounding."""
        if self.per_unit is None or not self.live:
            return None
        return self.per_unit * self.units


@dataclass(frozen=True)
class HeldRow:
    """One AUTO_PROC row of the visit, with its lot."""

    sale_id: int
    mapping_id: int | None
    product: str
    inventory_id: int
    lot_number: str
    quantity: int
    billed: bool


@dataclass
class VisitView:
    """Billing lines -> mappings -> requirement -> held rows -> shortage, and the plan."""

    pid: int
    encounter: int
    visit_date: date
    lines: list[BillingLine] = field(default_factory=list)
    held: list[HeldRow] = field(default_factory=list)
    plan: ReconcileResult | None = None
    usage_changes: int = 0

    @property
    def would_change(self) -> bool:
        """Whether a reconcile would write anything (stock or usage record)."""
        return bool(self.plan and self.plan.changed) or self.usage_changes > 0

    def as_dict(self) -> dict[str, Any]:
        held_now: dict[int, int] = {}
        for h in self.held:
            if h.mapping_id is not None:
                held_now[h.mapping_id] = held_now.get(h.mapping_id, 0) + h.quantity
        return {
            "pid": self.pid, "encounter": self.encounter,
            "visit_date": self.visit_date.isoformat(),
            "billing_lines": [
                {"line_id": ln.line_id, "code_type": ln.code_type, "code": ln.code,
                 "units": ln.units, "live": ln.live, "billed": ln.billed,
                 "mapping_id": ln.mapping_id, "drug_id": ln.drug_id, "product": ln.product,
                 "quantity_per_unit": jsonable(ln.per_unit), "exact": jsonable(ln.exact)}
                for ln in self.lines
            ],
            "held_rows": [
                {"sale_id": h.sale_id, "mapping_id": h.mapping_id, "product": h.product,
                 "inventory_id": h.inventory_id, "lot_number": h.lot_number,
                 "quantity": h.quantity, "billed": h.billed} for h in self.held
            ],
            "mappings": [_outcome_dict(m, held_now.get(m.mapping_id, 0))
                         for m in (self.plan.lines if self.plan else ())],
            "problems": list(self.plan.problems) if self.plan else [],
            "reconcile_would_change": self.would_change,
        }


def _outcome_dict(m: MappingOutcome, held: int) -> dict[str, Any]:
    return {
        "mapping_id": m.mapping_id, "code_type": m.code_type, "code": m.code,
        "drug_id": m.drug_id, "product": m.product_name,
        "planned_exact": jsonable(m.planned_quantity), "required": m.required,
        "held_now": held, "after_reconcile": m.allocated, "shortage": m.shortage,
        "would_take": m.added, "would_return": m.returned,
        "lots": [{"inventory_id": lot.inventory_id, "lot_number": lot.lot_number,
                  "quantity": lot.quantity} for lot in m.lots],
    }


def preview_reconcile(
    repo: ReportRepository, pid: int, encounter: int, *, service_username: str,
    today: date | None = None, policy: LotPolicy | None = None,
) -> tuple[ReconcileResult, int]:
    """The reconcile a visit would get now, on the read-only transaction of ``repo``:
    (result with ``writes`` 0, number of usage records it would write)."""
    return preview_in_transaction(ConsumptionRepository(repo.conn), pid, encounter,
                                  service_username=service_username, today=today,
                                  policy=policy)


def visit_view(
    repo: ReportRepository, pid: int, encounter: int, *, service_username: str,
    today: date | None = None, policy: LotPolicy | None = None,
) -> VisitView:
    """Everything about one visit's consumption, read-only."""
    plan, usage_changes = preview_reconcile(repo, pid, encounter,
                                            service_username=service_username, today=today,
                                            policy=policy)
    vrepo = VisitRepository(repo.conn)
    visit, _ = ConsumptionRepository(repo.conn).visit_and_held(pid, encounter, today)
    assert visit is not None
    view = VisitView(pid, encounter, visit.visit_date, plan=plan, usage_changes=usage_changes)
    for r in vrepo.billing_lines(pid, encounter):
        view.lines.append(BillingLine(
            line_id=int(r[0]), code_type=r[1] or "", code=r[2] or "", units=int(r[3] or 0),
            live=int(r[4] or 0) == 1, billed=bool(r[5]),
            mapping_id=int(r[6]) if r[6] is not None else None,
            drug_id=int(r[7]) if r[7] is not None else None, product=r[8] or "",
            per_unit=Decimal(r[9]) if r[9] is not None else None,
        ))
    for r in vrepo.held_rows(pid, encounter):
        view.held.append(HeldRow(int(r[0]), parse_selector(r[1]), r[6], int(r[3]), r[7],
                                 int(r[4]), bool(r[5])))
    return view


def describe_view(view: VisitView) -> list[str]:
    """The visit view as text lines (no printing here)."""
    out = [f"visit pid {view.pid} encounter {view.encounter} on {view.visit_date}"]
    out.append("billing lines:")
    if not view.lines:
        out.append("  (none)")
    for ln in view.lines:
        state = "live" if ln.live else "deleted"
        if ln.billed:
            state += ", billed"
        target = (f"mapping {ln.mapping_id} -> {ln.product} (product {ln.drug_id}) x "
                  f"{_num(ln.per_unit)} = {_num(ln.exact)}" if ln.mapping_id is not None and
                  ln.live else (f"mapping {ln.mapping_id} -> {ln.product} (line deleted)"
                                if ln.mapping_id is not None else "not mapped"))
        out.append(f"  line {ln.line_id}: {ln.code_type} {ln.code} x {ln.units} ({state}): "
                   f"{target}")
    out.append("AUTO_PROC rows held:")
    if not view.held:
        out.append("  (none)")
    for h in view.held:
        lot = (f"lot {h.lot_number or '[no lot number]'} (inventory {h.inventory_id})"
               if h.inventory_id else "no lot (product not dispensable)")
        out.append(f"  sale {h.sale_id}: mapping {h.mapping_id}, {h.product}, {h.quantity} "
                   f"from {lot}" + (", billed" if h.billed else ""))
    out.append("per mapping (exact requirement -> rounded up per visit):")
    held_now: dict[int, int] = {}
    for h in view.held:
        if h.mapping_id is not None:
            held_now[h.mapping_id] = held_now.get(h.mapping_id, 0) + h.quantity
    if view.plan is None or not view.plan.lines:
        out.append("  (no mapped procedures)")
    for m in view.plan.lines if view.plan else ():
        code = f"{m.code_type} {m.code}".strip() or f"mapping {m.mapping_id} (deleted)"
        line = (f"  {code} -> {m.product_name or f'product {m.drug_id}'}: exact "
                f"{_num(m.planned_quantity)}, required {m.required}, held "
                f"{held_now.get(m.mapping_id, 0)}")
        if m.added or m.returned:
            line += f"; a reconcile would take {m.added} and return {m.returned}"
        line += f"; shortage {m.shortage}" if m.shortage else "; no shortage"
        out.append(line)
    for problem in view.plan.problems if view.plan else ():
        out.append(f"problem: {problem}")
    out.append("a reconcile would change: " + (
        "YES (run 'aesthetic-inventory consume --pid "
        f"{view.pid} --encounter {view.encounter}')" if view.would_change else
        "nothing (stock and usage record agree with the fee sheet)"))
    return out


def _num(value: Decimal | None) -> str:
    if value is None:
        return ""
    return format(value.normalize(), "f")


def plan_sync(
    repo: ReportRepository, *, since: date, service_username: str, today: date | None = None,
    policy: LotPolicy | None = None,
) -> tuple[list[tuple[int, int]], list[ReconcileResult]]:
    """What ``sync`` would do now, read-only: the visits it would reconcile (the queued
    ones, then the sweep's: the window's unsettled visits, open shortages with stock
    again, rows of vanished mappings) and the plan of each that would change."""
    sweep = SweepRepository(repo.conn)
    queued = VisitRepository(repo.conn).queued_visits()
    suspects = sweep.suspect_visits(since)
    unsettled: set[tuple[int, int]] = set()
    if suspects:
        unsettled, _ = unsettled_visits(sweep.window_facts(since))
        unsettled &= suspects
    swept = sorted(unsettled | set(sweep.always_candidates()))
    visits = list(dict.fromkeys([*queued, *swept]))
    plans = []
    for pid, encounter in visits:
        try:
            result, usage_changes = preview_reconcile(repo, pid, encounter,
                                                      service_username=service_username,
                                                      today=today, policy=policy)
        except UnknownVisitError:
            continue
        if result.changed or usage_changes:
            plans.append(result)
    return visits, plans
