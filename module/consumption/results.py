"""What a reconcile, a queue drain and a sweep report (plain data, JSON-ready)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class LotMovement:
    """Units taken from (positive) or returned to (negative) one lot; lot 0 = no lot."""

    inventory_id: int
    lot_number: str | None
    quantity: int


@dataclass(frozen=True)
class MappingOutcome:
    """What a reconcile found and did for one mapping of the visit."""

    mapping_id: int
    drug_id: int
    code_type: str
    code: str
    planned_quantity: Decimal
    required: int
    allocated: int
    shortage: int
    added: int
    returned: int
    lots: tuple[LotMovement, ...] = ()
    product_name: str = ""


@dataclass(frozen=True)
class ReconcileResult:
    """What a reconcile of one visit found and changed."""

    pid: int
    encounter: int
    lines: tuple[MappingOutcome, ...]
    writes: int
    changed: bool
    # mappings that could not be reconciled or deserve a look (missing or inactive
    # product, a quantity that overflows); the visit's other mappings are reconciled
    problems: tuple[str, ...] = ()

    @property
    def shortage(self) -> int:
        return sum(line.shortage for line in self.lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "pid": self.pid,
            "encounter": self.encounter,
            "changed": self.changed,
            "writes": self.writes,
            "problems": list(self.problems),
            "mappings": [
                {
                    "mapping_id": m.mapping_id,
                    "drug_id": m.drug_id,
                    "product": m.product_name,
                    "code_type": m.code_type,
                    "code": m.code,
                    "planned_quantity": str(m.planned_quantity),
                    "required": m.required,
                    "allocated": m.allocated,
                    "shortage": m.shortage,
                    "added": m.added,
                    "returned": m.returned,
                    "lots": [
                        {"inventory_id": lot.inventory_id, "lot_number": lot.lot_number,
                         "quantity": lot.quantity}
                        for lot in m.lots
                    ],
                }
                for m in self.lines
            ],
        }


@dataclass(frozen=True)
class DrainResult:
    """Visits reconciled from the queue; ``skipped``: claimed by another worker or no
    such visit; ``failed``: a database error, left queued for the next run."""

    visits: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    results: tuple[ReconcileResult, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class SweepResult:
    """Visits the sweep reconciled; ``failed`` ones hit a database error (logged)."""

    since: date
    visits: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    shortage_units: int = 0
    results: tuple[ReconcileResult, ...] = field(default=(), repr=False)
    checked: int = 0  # window visits the server-side filter passed to the exact check
