"""Unit of work: owns one connection and one transaction, rolls back unless committed,
and carries the repositories that work on that connection."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TypeVar, cast

from sqlalchemy.engine import Connection, Engine

# The retry helper lives with the conflict classifier in db.py; re-exported here,
# where the services have always found it.
from .db import connect, retry_on_lock_conflict

__all__ = [
    "UnitOfWork", "UnitOfWorkFactory", "retry_on_lock_conflict", "run_transaction",
    "unit_of_work_factory",
]

R = TypeVar("R")


class UnitOfWork:
    """One transaction on one connection, and the repositories on it.

    Inside the ``with`` block ``uow.get(SomeRepository)`` returns that repository built
    on :attr:`connection` (one instance per block). The unit of work depends only on the
    database layer: each package brings its own repositories (any class whose
    constructor takes the connection), so nothing here imports a package and no package
    has to register itself. Leaving the block without :meth:`commit` rolls everything
    back, so a failure midway never leaves half a change behind. A unit of work may be
    entered again after it was left: each ``with`` block is a new connection and
    transaction (not thread-safe: one per thread).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._repositories: dict[Callable[[Connection], object], object] = {}

    @property
    def connection(self) -> Connection:
        if self._connection is None:
            raise RuntimeError("unit of work used outside its 'with' block")
        return self._connection

    def get(self, repository: Callable[[Connection], R]) -> R:
        """The ``repository`` (a class taking the connection) on this block's connection.

        Building a repository sends nothing: the statements a unit costs are its own.
        """
        found = self._repositories.get(repository)
        if found is None:
            found = self._repositories[repository] = repository(self.connection)
        return cast(R, found)  # keyed by its own constructor, so of its type

    def __enter__(self) -> UnitOfWork:
        # SQLAlchemy begins a transaction with the first statement ("autobegin"), so a
        # unit of work that commits and leaves costs no extra BEGIN/ROLLBACK round trip.
        self._connection = connect(self.engine)
        self._repositories = {}
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
            self._repositories = {}

    def commit(self) -> None:
        """Commit the work so far; later statements in the block run in a new transaction."""
        self.connection.commit()

    def rollback(self) -> None:
        """Throw away everything since the last commit."""
        self.connection.rollback()


UnitOfWorkFactory = Callable[[], UnitOfWork]
"""What services that run several transactions take: one new unit of work per call."""


def unit_of_work_factory(engine: Engine) -> UnitOfWorkFactory:
    """The factory of units of work on ``engine``, for a caller that holds only an engine
    (a benchmark, a test); services take the factory, never the engine."""
    return lambda: UnitOfWork(engine)


def run_transaction(factory: UnitOfWorkFactory, work: Callable[[UnitOfWork], R], *,
                    dry_run: bool = False) -> R:
    """One transaction around ``work``, re-run whole after a lost lock conflict
    (:func:`retry_on_lock_conflict`); a dry run rolls back what ``work`` wrote."""

    def attempt() -> R:
        with factory() as uow:
            result = work(uow)
            if dry_run:
                uow.rollback()
            else:
                uow.commit()
            return result

    return retry_on_lock_conflict(attempt)
