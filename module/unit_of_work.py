"""Unit of work: owns one connection and one transaction, rolls back unless committed."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from .db import connect, is_lock_conflict

T = TypeVar("T")


class UnitOfWork:
    """One transaction on one connection.

    Repositories are built on :attr:`connection` inside the ``with`` block. Leaving
    the block without :meth:`commit` rolls everything back, so a failure midway
    never leaves half a change behind.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its 'with' block")
        return self._connection

    def __enter__(self) -> UnitOfWork:
        # SQLAlchemy begins a transaction with the first statement ("autobegin"), so a
        # unit of work that commits and leaves costs no extra BEGIN/ROLLBACK round trip.
        self._connection = connect(self.engine)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._connection is not None and self._connection.in_transaction():
                self._connection.rollback()
        finally:
            if self._connection is not None:
                self._connection.close()
            self._connection = None

    def commit(self) -> None:
        """Commit the work so far; later statements in the block run in a new transaction."""
        self.connection.commit()

    def rollback(self) -> None:
        """Throw away everything since the last commit."""
        self.connection.rollback()


def retry_on_lock_conflict(
    work: Callable[[], T],
    *,
    attempts: int = 5,
    base_delay: float = 0.02,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run ``work`` (a whole transaction) again after a deadlock or lock wait timeout.

    InnoDB rolls back the victim of a deadlock, so re-running the complete unit of
    work is the documented remedy. The number of attempts is bounded; the last
    error is re-raised.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if not is_lock_conflict(exc) or attempt == attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            time.sleep(base_delay * (2 ** (attempt - 1)) * (1 + random.random()))
    raise AssertionError("unreachable")
