"""The floor of a save: the module's own statements, sent in ONE round trip with no
Python (issue 21: "within 1.3x of the same statements in one round trip").

The statements of one module save are recorded as the server received them (the
driver's own escaping; an ``executemany`` folded into its multi-row INSERT as PyMySQL
sends it), then replayed on a connection with multi-statements enabled as
``START TRANSACTION; ...; ROLLBACK``. The replay runs right after the save, on the
state it left: the reads read the same rows, the lot UPDATE's check finds them
changed (the same work), the INSERTs insert (firing the same triggers) and are rolled
back, so it costs what the save's SQL costs, minus the round trips and the Python."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pymysql  # type: ignore[import-untyped]
from pymysql.constants import CLIENT  # type: ignore[import-untyped]
from pymysql.cursors import RE_INSERT_VALUES  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.engine import Engine


@contextmanager
def recorded_sql(engine: Engine) -> Iterator[list[str]]:
    """Every statement the engine sends inside the block, with its values inlined."""
    sent: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if executemany:
            match = RE_INSERT_VALUES.match(statement)
            if match:
                head, values, tail = match.group(1, 2, 3)
                rows = ",".join(cursor.mogrify(values, row) for row in parameters)
                sent.append(head + rows + (tail or ""))
            else:
                sent.extend(cursor.mogrify(statement, row) for row in parameters)
        else:
            sent.append(cursor.mogrify(statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", before)


_CONNECTIONS: dict[str, Any] = {}


def _replay_connection(engine: Engine) -> Any:
    """One multi-statement connection per database, kept for every replay (a new
    connection's first statements are slower: that is not the save's cost)."""
    url = engine.url
    key = url.render_as_string(hide_password=False)
    if key not in _CONNECTIONS:
        conn = pymysql.connect(
            host=url.host or "127.0.0.1", port=url.port or 3306, user=url.username,
            password=url.password or "", database=url.database,
            unix_socket=url.query.get("unix_socket"), client_flag=CLIENT.MULTI_STATEMENTS,
            charset="utf8mb4", autocommit=True,
        )
        conn.cursor().execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        _CONNECTIONS[key] = conn
    return _CONNECTIONS[key]


def one_round_trip_seconds(engine: Engine, statements: list[str]) -> float:
    """Time ``statements`` sent as one multi-statement (and rolled back)."""
    cur = _replay_connection(engine).cursor()
    sql = "START TRANSACTION;" + ";".join(statements) + ";ROLLBACK"
    start = time.perf_counter()
    cur.execute(sql)
    while cur.nextset():
        pass
    return time.perf_counter() - start


def close_replay_connections() -> None:
    """Close the replay connections (before the database is dropped)."""
    while _CONNECTIONS:
        _CONNECTIONS.popitem()[1].close()
