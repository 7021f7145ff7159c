"""The service's view of its database being away: one line when it goes, backoff
while it is gone, one line when it is back.

Without this every job run during an outage failed and logged its own ERROR line
(89 lines for an 8 s outage with the queue drain every 100 ms). Every job of one
database shares one :class:`OutageGate`: the first job that finds the server gone
logs it; until the next probe is due, the jobs skip their runs silently; the probe
interval doubles up to a cap; the first run that succeeds logs the recovery.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, DisconnectionError

from .db import is_connection_error, mysql_error_code, root_cause
from .errors import DatabaseUnavailableError

# The server is going down or killed the connection while it does (MariaDB): the
# outage begins before connections are refused.
ER_SERVER_SHUTDOWN = 1053
ER_CONNECTION_KILLED = 1927

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("aesthetic_inventory.service")


def is_outage(exc: BaseException) -> bool:
    """The database server is unreachable or the connection was lost (not a bad
    statement, not a lock conflict)."""
    cause = root_cause(exc)
    if isinstance(exc, DatabaseUnavailableError | DisconnectionError) or isinstance(
        cause, DatabaseUnavailableError
    ):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return is_connection_error(cause) or mysql_error_code(cause) in (
        ER_SERVER_SHUTDOWN, ER_CONNECTION_KILLED
    )


class OutageGate:
    """Shared by the jobs of one database (thread-safe: jobs run in a pool)."""

    def __init__(self, name: str = "database", *, first_delay: float = 1.0,
                 max_delay: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.first_delay = first_delay
        self.max_delay = max_delay
        self._clock = clock
        self._lock = threading.Lock()
        self.down_since: float | None = None
        self._delay = first_delay
        self._next_probe = 0.0

    @property
    def is_down(self) -> bool:
        """Whether the last run found the database away."""
        return self.down_since is not None

    def guard(self, job: Callable[P, R]) -> Callable[P, R | None]:
        """``job`` as the scheduler runs it: skipped (``None``) while backing off,
        its outage turned into the gate's single lines, other errors unchanged."""

        @functools.wraps(job)
        def run(*args: P.args, **kwargs: P.kwargs) -> R | None:
            if not self._may_run():
                return None
            try:
                result = job(*args, **kwargs)
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._went_away(exc)
                return None
            self._came_back()
            return result

        return run

    def _may_run(self) -> bool:
        with self._lock:
            return self.down_since is None or self._clock() >= self._next_probe

    def _went_away(self, exc: BaseException) -> None:
        with self._lock:
            now = self._clock()
            if self.down_since is None:
                self.down_since = now
                self._delay = self.first_delay
                first = (str(exc).splitlines() or [""])[0][:200] or type(exc).__name__
                log.error(
                    "service: %s unavailable (%s); jobs paused, retrying with backoff up to "
                    "every %.0f s", self.name, first, self.max_delay,
                )
            else:
                self._delay = min(self._delay * 2, self.max_delay)
            self._next_probe = now + self._delay

    def _came_back(self) -> None:
        with self._lock:
            if self.down_since is None:
                return
            gone = self._clock() - self.down_since
            self.down_since = None
            self._delay = self.first_delay
        log.warning("service: %s is back after %.0f s; jobs resumed", self.name, gone)
