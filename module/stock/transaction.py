"""One stock command = one unit of work: the runner every stock service shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy.engine import Engine

from ..unit_of_work import UnitOfWorkFactory, retry_on_lock_conflict, unit_of_work_factory
from .repository import StockRepository

T = TypeVar("T")


def run_in_transaction(uow_factory: UnitOfWorkFactory | Engine,
                       work: Callable[[StockRepository], T], *, dry_run: bool = False) -> T:
    """One transaction (re-run whole on a deadlock or lock wait timeout); a dry run
    rolls back."""
    factory = unit_of_work_factory(uow_factory)

    def attempt() -> T:
        with factory() as uow:
            result = work(uow.get(StockRepository))
            if dry_run:
                uow.rollback()
            else:
                uow.commit()
            return result

    return retry_on_lock_conflict(attempt)


def warehouse_choice(repo: StockRepository) -> tuple[set[str], str]:
    """The active warehouses and the default one (else the first in OpenEMR's order)."""
    rows: Sequence[tuple[str, int]] = repo.warehouses()
    known = {w for w, _ in rows}
    default = next((w for w, d in rows if d), rows[0][0] if rows else "")
    return known, default
