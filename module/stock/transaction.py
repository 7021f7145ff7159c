"""One stock command = one unit of work: the runner every stock service shares."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from ..unit_of_work import UnitOfWorkFactory, run_transaction
from .repository import StockRepository

T = TypeVar("T")


def run_in_transaction(uow_factory: UnitOfWorkFactory,
                       work: Callable[[StockRepository], T], *, dry_run: bool = False) -> T:
    """One transaction (re-run whole on a deadlock or lock wait timeout); a dry run
    rolls back."""
    return run_transaction(uow_factory,
                           lambda uow: work(uow.get(StockRepository)), dry_run=dry_run)


def warehouse_choice(repo: StockRepository) -> tuple[set[str], str]:
    """The active warehouses and the default one (else the first in OpenEMR's order)."""
    rows: Sequence[tuple[str, int]] = repo.warehouses()
    known = {w for w, _ in rows}
    default = next((w for w, d in rows if d), rows[0][0] if rows else "")
    return known, default
