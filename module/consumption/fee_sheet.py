"""Python fee-sheet API: write billing lines the way OpenEMR does, then reconcile.

OpenEMR's fee sheet inserts a ``billing`` row per code (``code_text`` looked up in
``codes`` through ``code_types.ct_key`` -> ``ct_id``, groupname 'Default', authorized 1,
billed 0, activity 1) and "deletes" a line by setting ``activity = 0``. Here the line
changes and the stock reconcile happen in ONE transaction: either both or neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..errors import InvalidInputError, UnknownVisitError
from ..unit_of_work import UnitOfWork, retry_on_lock_conflict
from .domain import LotPolicy
from .repository import QueueRepository
from .service import ReconcileResult, reconcile_in_transaction


@dataclass(frozen=True)
class NewLine:
    """A code to add to the fee sheet."""

    code_type: str
    code: str
    units: int = 1
    fee: Decimal | None = None  # None: the fee of the code in ``codes`` (0 when unknown)


@dataclass(frozen=True)
class FeeSheetChanges:
    """One save of a visit's fee sheet: lines added, units edited, lines deleted."""

    add: Sequence[NewLine] = ()
    units: dict[int, int] = field(default_factory=dict)  # billing.id -> new units
    delete: Sequence[int] = ()  # billing.id


def _check_units(units: object) -> int:
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise InvalidInputError(f"units must be a whole number of at least 1, got {units!r}")
    return units


def _check_fee(fee: Decimal | None) -> Decimal | None:
    if fee is None:
        return None
    try:
        value = Decimal(str(fee))
    except InvalidOperation:
        raise InvalidInputError(f"fee must be a number, got {fee!r}") from None
    if value < 0 or not value.is_finite():
        raise InvalidInputError(f"fee must not be negative, got {fee}")
    return value


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
        self, pid: int, encounter: int, line: NewLine, code_text: str, fee: Decimal,
        user_id: int | None, provider_id: int | None,
    ) -> int:
        result = self.conn.execute(
            text(
                "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
                "authorized, encounter, code_text, billed, activity, units, fee) VALUES "
                "(NOW(), :ct, :code, :pid, :prov, :user, 'Default', 1, :enc, :text, 0, 1, "
                ":units, :fee)"
            ),
            {"ct": line.code_type, "code": line.code, "pid": pid, "prov": provider_id,
             "user": user_id, "enc": encounter, "text": code_text, "units": line.units,
             "fee": fee},
        )
        return int(result.lastrowid)

    def live_line_ids(self, pid: int, encounter: int, ids: Sequence[int]) -> set[int]:
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
        self.conn.execute(
            text("UPDATE billing SET units = :u WHERE id = :id"), {"u": units, "id": line_id}
        )

    def deactivate(self, line_id: int) -> None:
        self.conn.execute(text("UPDATE billing SET activity = 0 WHERE id = :id"), {"id": line_id})

    def visit_exists(self, pid: int, encounter: int) -> bool:
        return bool(
            self.conn.execute(
                text("SELECT 1 FROM form_encounter WHERE pid = :p AND encounter = :e LIMIT 1"),
                {"p": pid, "e": encounter},
            ).first()
        )


def save_fee_sheet(
    uow: UnitOfWork,
    pid: int,
    encounter: int,
    changes: FeeSheetChanges,
    *,
    user_id: int | None = None,
    provider_id: int | None = None,
    service_username: str,
    today: date | None = None,
    policy: LotPolicy | None = None,
) -> tuple[list[int], ReconcileResult]:
    """Apply the line changes and reconcile the visit in one transaction.

    Returns the ids of the added lines and the reconcile result. Bad input (unknown
    visit or code type, units below 1, a line that is not a live, unbilled line of
    this visit) raises before anything is committed.
    """
    for line in changes.add:
        _check_units(line.units)
        _check_fee(line.fee)
    for units in changes.units.values():
        _check_units(units)

    def work() -> tuple[list[int], ReconcileResult]:
        with uow:
            conn = uow.connection
            repo = FeeSheetRepository(conn)
            if not repo.visit_exists(pid, encounter):
                raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
            touched = list(changes.units) + list(changes.delete)
            live = repo.live_line_ids(pid, encounter, touched)
            stray = sorted(set(touched) - live)
            if stray:
                raise InvalidInputError(
                    f"billing line(s) {', '.join(map(str, stray))} are not live, unbilled "
                    f"lines of visit {pid}/{encounter}"
                )
            added: list[int] = []
            for line in changes.add:
                info = repo.code_info(line.code_type, line.code)
                if info is None:
                    raise InvalidInputError(f"unknown code type {line.code_type!r}")
                fee = _check_fee(line.fee)
                added.append(
                    repo.add_line(pid, encounter, line, info[0],
                                  info[1] * line.units if fee is None else fee,
                                  user_id, provider_id)
                )
            for line_id, units in changes.units.items():
                repo.set_units(line_id, units)
            for line_id in changes.delete:
                repo.deactivate(line_id)
            result = reconcile_in_transaction(
                conn, pid, encounter, service_username=service_username, today=today,
                policy=policy,
            )
            # The billing triggers queued this visit; it is reconciled already. Rows a
            # queue worker holds are skipped (waiting for them could deadlock with it).
            queue = QueueRepository(conn)
            queue.delete(queue.claim(pid, encounter))
            uow.commit()
            return added, result

    return retry_on_lock_conflict(work)
