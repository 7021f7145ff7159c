"""The writes of recorded actuals (bound parameters only): the actual columns of the
usage record, their history, and spent fee-sheet edits. Both a reconcile absorbing
fee-sheet edits and ``usage record`` write through these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..actuals import Actual, MappingRef


class ActualsRepository:
    """Writes of recorded actuals on the caller's transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def write_actuals(
        self, pid: int, encounter: int,
        rows: Sequence[tuple[MappingRef, Decimal, Actual]], now: datetime,
    ) -> int:
        """Set the actual of each (mapping, planned, actual) in one INSERT ... ON DUPLICATE
        KEY UPDATE. A mapping without a record yet gets one with its plan; the reconcile
        that follows in the same transaction completes the allocation columns."""
        if not rows:
            return 0
        self.conn.exec_driver_sql(
            "INSERT INTO aesthetic_inventory_usage (pid, encounter, mapping_id, drug_id, "
            "code_type, code, planned_quantity, required_units, allocated_units, "
            "shortage_units, updated_at, actual_quantity, variance_reason, actual_notes, "
            "actual_lot_id, actual_source, recorded_by, recorded_at) VALUES (%s, %s, %s, %s, "
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON DUPLICATE KEY UPDATE actual_quantity = VALUES(actual_quantity), "
            "variance_reason = VALUES(variance_reason), actual_notes = VALUES(actual_notes), "
            "actual_lot_id = VALUES(actual_lot_id), actual_source = VALUES(actual_source), "
            "recorded_by = VALUES(recorded_by), recorded_at = VALUES(recorded_at)",
            [
                (pid, encounter, ref.mapping_id, ref.drug_id, ref.code_type, ref.code, planned,
                 0, 0, 0, now, a.quantity, a.reason, a.notes, a.lot_id, a.source,
                 a.recorded_by, a.recorded_at or now)
                for ref, planned, a in rows
            ],
        )
        return 1

    def append_history(
        self, pid: int, encounter: int,
        rows: Sequence[tuple[MappingRef, Decimal, Actual | None, Actual]], now: datetime,
    ) -> int:
        """One history row per changed actual: (mapping, planned, old, new)."""
        if not rows:
            return 0
        self.conn.exec_driver_sql(
            "INSERT INTO aesthetic_inventory_usage_history (pid, encounter, mapping_id, drug_id, "
            "planned_quantity, old_actual, new_actual, old_reason, new_reason, old_notes, "
            "new_notes, old_lot_id, new_lot_id, source, changed_by, changed_at) VALUES (%s, %s, "
            "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (pid, encounter, ref.mapping_id, ref.drug_id, planned,
                 old.quantity if old else None, new.quantity, old.reason if old else None,
                 new.reason, old.notes if old else None, new.notes,
                 old.lot_id if old else None, new.lot_id, new.source, new.recorded_by,
                 new.recorded_at or now)
                for ref, planned, old, new in rows
            ],
        )
        return 1

    def delete_edits(self, edit_ids: Iterable[int]) -> int:
        ids = sorted(set(edit_ids))
        if not ids:
            return 0
        self.conn.execute(
            text("DELETE FROM aesthetic_inventory_fee_sheet_edits WHERE id IN :ids")
            .bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        )
        return 1
