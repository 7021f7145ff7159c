"""The one plan of a visit's materials (pure: no SQL).

Every path that decides what a visit's ``AUTO_PROC`` rows should hold runs
:func:`plan_visit` on the facts the repository gathered: the locked reconcile, every
preview (``consume --dry-run``, ``sync --dry-run``, ``visit show``), ``usage record``
and the web PUT. It reports mappings that cannot be served, aggregates the live lines
into requirements, absorbs pending fee-sheet edits as actuals, lets recorded actuals
override the plan, and plans each mapping (what it holds, what to take, what goes
back). Choosing lots for the takes is :func:`~.planning.stock_plan`; the per-mapping
results are :func:`~.planning.outcomes`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .actuals import AbsorbedEdits, Actual, FeeSheetEdit, absorb_edits
from .domain import HeldSale, MappingPlan, Requirement, requirement_problem
from .planning import (
    RecordedActual,
    UsageRow,
    Visit,
    VisitFacts,
    apply_actuals,
    mapping_plans,
    mapping_problems,
    requirements,
)


@dataclass(frozen=True)
class VisitPlan:
    """What a visit requires per mapping and what each mapping's rows must do."""

    visit: Visit
    reqs: dict[int, Requirement]
    plans: dict[int, MappingPlan]
    usage: dict[int, UsageRow]  # the stored records of the mappings not blocked
    problems: tuple[str, ...]
    absorbed: AbsorbedEdits | None = None  # pending fee-sheet edits, as actuals


def plan_visit(
    visit: Visit, held: list[HeldSale], facts: VisitFacts, *, service_username: str,
    now: datetime, actor: str | None = None,
) -> VisitPlan:
    """The visit's plan from its facts; ``now`` stamps actuals absorbed from edits.

    ``actor``: who caused this reconcile by recording actuals (a nurse's ``usage
    record``); the rows a mapping with an actual takes are written in that user's name,
    so the movement ledger names the nurse, not the billing line's user."""
    problems, blocked = mapping_problems(facts.lines)
    reqs = requirements([ln for ln in facts.lines if not ln.product_missing], service_username)
    for mapping_id, req in list(reqs.items()):
        problem = requirement_problem(req)
        if problem is not None:  # a per-mapping error: the other mappings go on
            problems.append(problem)
            blocked.add(mapping_id)
            del reqs[mapping_id]
    # a blocked mapping's rows and record are left exactly as they are
    held = [sale for sale in held if sale.mapping_id not in blocked]
    usage = {k: row for k, row in facts.usage.items() if k not in blocked}
    actuals = {k: a for k, a in facts.actuals.items() if k not in blocked}
    edits = [e for e in facts.edits if e.mapping_id not in blocked]
    absorbed = None
    if edits:  # OpenEMR's fee sheet changed our rows: that is the actual usage
        absorbed = _absorb(facts, edits, reqs, held, now)
        # a fee-sheet edit replaces a named lot: the rows now sit where the biller put them
        actuals.update({m: RecordedActual(a.quantity, None, a.reason, a.notes)
                        for m, a in absorbed.actuals.items()})
    reqs = apply_actuals(reqs, actuals, facts, service_username)
    if actor:
        reqs = {m: replace(r, username=actor) if m in actuals else r for m, r in reqs.items()}
    return VisitPlan(visit, reqs, mapping_plans(reqs, held), usage, tuple(problems), absorbed)


def _absorb(
    facts: VisitFacts, edits: list[FeeSheetEdit], reqs: dict[int, Requirement],
    held: list[HeldSale], now: datetime,
) -> AbsorbedEdits:
    refs = {m: (u.drug_id, u.code_type, u.code) for m, u in facts.usage.items()}
    refs.update({m: (r.drug_id, r.code_type, r.code) for m, r in reqs.items()})
    planned = {m: r.planned_quantity for m, r in reqs.items()}
    old = {m: Actual(a.quantity, a.reason, a.notes, a.lot_id) for m, a in facts.actuals.items()}
    return absorb_edits(edits, held, planned, refs, old, now)
