"""One unit of work per web request (issue 21): one pooled connection for everything a
request reads and writes, however many services it calls.

Services take a unit-of-work factory and open ``with factory() as uow:`` blocks;
:meth:`RequestUnitOfWork.factory` hands them this request's unit, whose blocks share
one connection. A block that wrote (or locked rows) and leaves without ``commit()`` is
rolled back, as every unit of work is; a block that only read leaves its transaction
open for the next block, so a request that reads, then writes, pays one COMMIT instead
of a ROLLBACK per read. The connection goes back to the pool once, when the request
ends (:meth:`RequestUnitOfWork.close`), rolled back if anything is still open.

Safe requests (GET, HEAD) run on an autocommit engine: under READ COMMITTED each read
sees the latest committed rows anyway, so nothing changes for them except that no BEGIN
or ROLLBACK travels to the server.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from ..unit_of_work import UnitOfWork, UnitOfWorkFactory

_READ_VERBS = ("SELECT", "SHOW", "(SELECT")
_LOCKING_CLAUSES = ("FOR UPDATE", "FOR SHARE", "LOCK IN SHARE MODE")


def is_plain_read(statement: str) -> bool:
    """A statement that neither changes nor locks rows."""
    head = statement.lstrip()[:7].upper()
    if not head.startswith(_READ_VERBS):
        return False
    upper = statement.upper()
    return not any(clause in upper for clause in _LOCKING_CLAUSES)


class RequestUnitOfWork(UnitOfWork):
    """A unit of work whose ``with`` blocks share one connection until :meth:`close`."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._depth = 0
        self._wrote = False

    def factory(self) -> UnitOfWorkFactory:
        """What to hand a service: every call returns this request's unit."""
        return lambda: self

    def open(self) -> RequestUnitOfWork:
        """Connect (once) without opening a block: the request's own reads (who is
        signing in) then share the transaction of the service block that follows."""
        if self._connection is None:
            super().__enter__()  # connects and builds the repositories once
            event.listen(self.connection, "before_cursor_execute", self._seen)
        return self

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not self._wrote and not is_plain_read(statement):
            self._wrote = True

    def __enter__(self) -> RequestUnitOfWork:
        self.open()
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        conn = self._connection
        if conn is not None and conn.in_transaction() and (exc is not None or self._wrote):
            self.rollback()

    def commit(self) -> None:
        """Commit the work so far."""
        super().commit()
        self._wrote = False

    def rollback(self) -> None:
        """Throw away everything since the last commit."""
        super().rollback()
        self._wrote = False

    def close(self) -> None:
        """Give the connection back (after rolling back anything left open)."""
        if self._connection is not None:
            super().__exit__(None, None, None)
        self._depth = 0
        self._wrote = False
