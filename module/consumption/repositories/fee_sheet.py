"""The SQL of the fee-sheet writes, as OpenEMR's PHP fee sheet makes them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection


class FeeSheetRepository:
    """SQL of the fee-sheet writes."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def code_info(self, code_type: str, code: str) -> tuple[str, Decimal] | None:
        """(code_text, fee) from ``codes``; None when the code type itself is unknown."""
        if not self.conn.execute(
            text("SELECT 1 FROM code_types WHERE ct_key = :ct"), {"ct": code_type}
        ).first():
            return None
        row = self.conn.execute(
            text(
                "SELECT c.code_text, c.fee FROM codes c "
                "JOIN code_types ct ON ct.ct_id = c.code_type "
                "WHERE ct.ct_key = :ct AND c.code = :code ORDER BY c.id LIMIT 1"
            ),
            {"ct": code_type, "code": code},
        ).first()
        if row is None:
            return "", Decimal(0)
        return row[0] or "", Decimal(row[1] or 0)

    def add_line(
        self, pid: int, encounter: int, code_type: str, code: str, units: int,
        code_text: str, fee: Decimal, user_id: int | None, provider_id: int | None,
    ) -> int:
        """Insert a live billing line as OpenEMR's fee sheet does; returns its id."""
        result = self.conn.execute(
            text(
                "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
                "authorized, encounter, code_text, billed, activity, units, fee) VALUES "
                "(NOW(), :ct, :code, :pid, :prov, :user, 'Default', 1, :enc, :text, 0, 1, "
                ":units, :fee)"
            ),
            {"ct": code_type, "code": code, "pid": pid, "prov": provider_id,
             "user": user_id, "enc": encounter, "text": code_text, "units": units,
             "fee": fee},
        )
        return int(result.lastrowid)

    def live_line_ids(self, pid: int, encounter: int, ids: Sequence[int]) -> set[int]:
        """Which of ``ids`` are live, unbilled lines of this visit."""
        if not ids:
            return set()
        rows = self.conn.execute(
            text(
                "SELECT id FROM billing WHERE pid = :pid AND encounter = :enc AND activity = 1 "
                "AND billed = 0 AND id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"pid": pid, "enc": encounter, "ids": list(ids)},
        )
        return {int(r[0]) for r in rows}

    def set_units(self, line_id: int, units: int) -> None:
        """Change a line's units."""
        self.conn.execute(
            text("UPDATE billing SET units = :u WHERE id = :id"), {"u": units, "id": line_id}
        )

    def deactivate(self, line_id: int) -> None:
        """Delete a line the way OpenEMR does: ``activity = 0``."""
        self.conn.execute(text("UPDATE billing SET activity = 0 WHERE id = :id"), {"id": line_id})

    def visit_exists(self, pid: int, encounter: int) -> bool:
        """Whether the visit has a ``form_encounter`` row."""
        return bool(
            self.conn.execute(
                text("SELECT 1 FROM form_encounter WHERE pid = :p AND encounter = :e LIMIT 1"),
                {"p": pid, "e": encounter},
            ).first()
        )

    def codes_mapped(self, code_type: str, codes: Sequence[str]) -> bool:
        """Whether any of ``codes`` has a product mapping (``procedure_products``)."""
        return bool(
            self.conn.execute(
                text(
                    "SELECT COUNT(*) FROM procedure_products WHERE code_type = :ct "
                    "AND code IN :codes"
                ).bindparams(bindparam("codes", expanding=True)),
                {"ct": code_type, "codes": list(codes)},
            ).scalar()
        )

    def open_visit(self, pid: int, visit_date: date, reason: str) -> int:
        """Insert a ``form_encounter`` row with the next free encounter number."""
        encounter = int(
            self.conn.execute(
                text("SELECT COALESCE(MAX(encounter), 0) + 1 FROM form_encounter")
            ).scalar_one()
        )
        self.conn.execute(
            text(
                "INSERT INTO form_encounter (date, reason, pid, encounter) "
                "VALUES (:d, :r, :p, :e)"
            ),
            {"d": visit_date, "r": reason, "p": pid, "e": encounter},
        )
        return encounter
