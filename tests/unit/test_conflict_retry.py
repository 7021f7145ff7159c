"""One conflict classifier and one bounded, jittered retry (issue 20): deadlock
(1213, also Galera's certification failure), lock wait timeout (1205) and Group
Replication's certification failure (3101) alike, the real error found behind
SQLAlchemy's PendingRollbackError, a compare-and-set that read stale data."""

from __future__ import annotations

import pymysql
import pytest
from aesthetic_inventory.db import (
    ConflictRetryExhaustedError,
    StaleReadError,
    is_lock_conflict,
    retry_on_lock_conflict,
    root_cause,
)
from aesthetic_inventory.errors import AestheticInventoryError
from sqlalchemy.exc import OperationalError, PendingRollbackError


def _db_error(code: int) -> OperationalError:
    return OperationalError("COMMIT", {}, pymysql.err.OperationalError(code, "conflict"))


@pytest.mark.parametrize("code", [1213, 1205, 3101])
def test_the_three_conflicts_are_retried(code: int) -> None:
    assert is_lock_conflict(_db_error(code))
    calls: list[int] = []

    def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise _db_error(code)
        return "done"

    assert retry_on_lock_conflict(work, base_delay=0.001) == "done"
    assert len(calls) == 3


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise _db_error(1146)  # no such table

    with pytest.raises(OperationalError):
        retry_on_lock_conflict(work, base_delay=0.001)
    assert calls == [1] and not is_lock_conflict(_db_error(1062))


def test_the_real_error_behind_pending_rollback() -> None:
    original = _db_error(1213)
    try:
        try:
            raise original
        except OperationalError:
            # what SQLAlchemy raises when a `finally` uses the failed transaction
            raise PendingRollbackError(  # noqa: B904 - chained implicitly, as SQLAlchemy does
                "Can't reconnect until invalid transaction is rolled back"
            )
    except PendingRollbackError as exc:
        hidden = exc
    assert root_cause(hidden) is original
    assert is_lock_conflict(hidden)


def test_a_stale_read_is_retried_on_fresh_data() -> None:
    outcomes = iter([StaleReadError("another scan notified these items first"), None])

    def work() -> str:
        failure = next(outcomes)
        if failure is not None:
            raise failure
        return "fresh"

    assert retry_on_lock_conflict(work, base_delay=0.001) == "fresh"


def test_the_bound_gives_a_503_error_with_retry_after() -> None:
    calls: list[int] = []

    def work() -> None:
        calls.append(1)
        raise _db_error(3101)

    with pytest.raises(ConflictRetryExhaustedError) as caught:
        retry_on_lock_conflict(work, attempts=4, base_delay=0.001)
    assert len(calls) == 4
    error = caught.value
    assert isinstance(error, AestheticInventoryError)
    assert error.http_status == 503 and error.retry_after_seconds >= 1
    assert str(error) == ("gave up after 4 attempts lost a conflict with other writers "
                          "(MySQL error 3101); nothing was changed, try again")
    assert is_lock_conflict(error)  # an outer retry does not run it all again
    calls.clear()
    with pytest.raises(ConflictRetryExhaustedError):
        retry_on_lock_conflict(lambda: (_ for _ in ()).throw(error), base_delay=0.001)
