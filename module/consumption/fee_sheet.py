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

from ..errors import InvalidInputError, UnknownVisitError
from ..unit_of_work import UnitOfWork, retry_on_lock_conflict
from .domain import LotPolicy
from .repositories import FeeSheetRepository, QueueRepository
from .results import ReconcileResult
from .service import reconcile_in_transaction


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


def _write_lines(
    repo: FeeSheetRepository, pid: int, encounter: int, changes: FeeSheetChanges,
    user_id: int | None, provider_id: int | None,
) -> list[int]:
    """Add, change and deactivate the visit's billing lines as OpenEMR's fee sheet
    does; returns the ids of the added lines."""
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
            repo.add_line(pid, encounter, line.code_type, line.code, line.units,
                          info[0], info[1] * line.units if fee is None else fee,
                          user_id, provider_id)
        )
    for line_id, units in changes.units.items():
        repo.set_units(line_id, units)
    for line_id in changes.delete:
        repo.deactivate(line_id)
    return added


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
            repo = uow.get(FeeSheetRepository)
            if not repo.visit_exists(pid, encounter):
                raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
            added = _write_lines(repo, pid, encounter, changes, user_id, provider_id)
            result = reconcile_in_transaction(
                uow, pid, encounter, service_username=service_username, today=today,
                policy=policy,
            )
            # The billing triggers queued this visit; it is reconciled already. Rows a
            # queue worker holds are skipped (waiting for them could deadlock with it).
            uow.get(QueueRepository).delete(uow.get(QueueRepository).claim(pid, encounter))
            uow.commit()
            return added, result

    return retry_on_lock_conflict(work)
