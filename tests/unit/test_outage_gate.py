"""The service's outage gate (issue 17 G): one line when the database goes away,
runs skipped while backing off (1 s doubling to the cap), one line when it is back;
other errors pass through unchanged."""

from __future__ import annotations

import logging

import pymysql
import pytest
from aesthetic_inventory.errors import DatabaseUnavailableError, InvalidInputError
from aesthetic_inventory.outage import OutageGate, is_outage
from sqlalchemy.exc import OperationalError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_down_backoff_one_line_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    gate = OutageGate(first_delay=1, max_delay=4, clock=clock)
    down = True
    calls: list[float] = []

    def job() -> str:
        calls.append(clock.now)
        if down:
            raise DatabaseUnavailableError("cannot reach the database server at db:3306")
        return "worked"

    guarded = gate.guard(job)
    caplog.set_level(logging.INFO, logger="aesthetic_inventory.service")
    for _ in range(100):  # 10 s of ticks every 0.1 s
        assert guarded() is None
        clock.now += 0.1
    # probes at 0, 1, 1+2, 3+4, then every 4 s (the cap)
    assert [round(t - 1000, 1) for t in calls] == [0.0, 1.0, 3.0, 7.0]
    assert gate.is_down
    down = False
    clock.now = 1012.0
    assert guarded() == "worked" and not gate.is_down
    assert guarded() == "worked"
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "service: database unavailable (cannot reach the database server at db:3306); "
        "jobs paused, retrying with backoff up to every 4 s",
        "service: database is back after 12 s; jobs resumed",
    ]


def test_other_errors_are_the_jobs_own() -> None:
    def job() -> None:
        raise InvalidInputError("a bad mapping")

    with pytest.raises(InvalidInputError):
        OutageGate().guard(job)()


def test_a_server_shutting_down_is_an_outage() -> None:
    def error(code: int) -> OperationalError:
        return OperationalError("SELECT 1", {}, pymysql.err.OperationalError(code, "x"))

    assert is_outage(error(1053)) and is_outage(error(2013)) and is_outage(error(1927))
    assert not is_outage(error(1213)) and not is_outage(error(1146))
