"""Plain-text lines describing a reconcile (used by the CLI and the demo; no printing)."""

from __future__ import annotations

from .results import LotMovement, ReconcileResult


def _lot(lot: LotMovement) -> str:
    if lot.inventory_id == 0:
        return "no lot (product not dispensable)"
    return f"lot {lot.lot_number or '[no lot number]'} (inventory {lot.inventory_id})"


def describe_result(result: ReconcileResult) -> list[str]:
    """What a reconcile found and did, per mapping: planned, allocated, shortage, lots."""
    state = "stock changed" if result.changed else "already up to date, nothing written"
    lines = [f"visit pid {result.pid} encounter {result.encounter}: {state}"]
    if not result.lines and not result.problems:
        lines.append("  no mapped procedures on this visit")
    for problem in result.problems:
        lines.append(f"  PROBLEM {problem}")
    for m in result.lines:
        product = m.product_name or f"product {m.drug_id}"
        code = f"{m.code_type} {m.code}".strip() or f"mapping {m.mapping_id} (deleted)"
        lines.append(
            f"  {code} -> {product}: planned {m.planned_quantity.normalize():f}, "
            f"required {m.required}, allocated {m.allocated}"
            + (f", SHORTAGE {m.shortage}" if m.shortage else "")
        )
        for lot in m.lots:
            if lot.quantity > 0:
                lines.append(f"    took {lot.quantity} from {_lot(lot)}")
            else:
                lines.append(f"    returned {-lot.quantity} to {_lot(lot)}")
    return lines
