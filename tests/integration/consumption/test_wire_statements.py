"""Statements a reconcile costs ON THE WIRE (server ``Questions``), not just the ones
SQLAlchemy sees: an ``executemany`` that PyMySQL cannot fold into one multi-row INSERT
is sent row by row, and only the server counter shows it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import dbtools
import pymysql.cursors
from aesthetic_inventory.consumption.batch import drain_change_queue
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy import event
from sqlalchemy.engine import Engine

SERVICE = "aesthetic-inventory"
WIRE_LIMIT = 8  # a 5-line first save on the wire, whatever the lot count (was a budget of 12)


@dataclass
class WireLog:
    """Server statements of a block, and the executemany statements the engine sent."""

    server: int = 0
    executemany: list[str] = field(default_factory=list)


@contextmanager
def on_the_wire(engine: Engine) -> Iterator[WireLog]:
    """Count global ``Questions`` of the test's private server around the block (nothing
    else talks to it meanwhile); the counting connection's own SHOW is subtracted."""
    log = WireLog()
    raw = engine.raw_connection()
    # a pooled connection ready for the block: a new connection's setup statements
    # (charset, isolation level, version probes) are not the reconcile's
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")

    def questions() -> int:
        cur = raw.cursor()
        cur.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
        return int(cur.fetchone()[1])

    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if executemany:
            log.executemany.append(statement)

    first = questions()
    overhead = questions() - first
    start = questions()
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine, "before_cursor_execute", before)
        log.server = questions() - start - overhead
        raw.close()


def _visit(clinic: Clinic, enc: int, lines: int, lots_per_line: int) -> None:
    """``lines`` lines, each needing one unit from each of ``lots_per_line`` lots."""
    clinic.add_visit(1, enc)
    for i in range(lines):
        drug = clinic.add_drug(f"P{enc}-{i}", allow_combining=1)
        for n in range(lots_per_line + 3):  # a few lots more than needed
            clinic.add_lot(drug, 1, lot_number=f"L{n:03d}")
        clinic.add_mapping(f"W{enc}{i}", drug)
        clinic.add_line(1, enc, f"W{enc}{i}", lots_per_line)


def _reconcile(engine: Engine, enc: int) -> WireLog:
    with on_the_wire(engine) as log:
        result = reconcile_visit(UnitOfWork(engine), 1, enc, service_username=SERVICE)
    assert result.shortage == 0 and result.changed
    return log


def test_every_executemany_insert_is_batchable_by_pymysql(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    _visit(clinic, 300, lines=5, lots_per_line=4)
    log = _reconcile(migrated_engine, 300)
    inserts = [s for s in log.executemany if s.lstrip().upper().startswith("INSERT")]
    assert inserts, "the reconcile sent no executemany INSERT"
    for statement in inserts:
        # SQLAlchemy has turned :name into %(name)s by now, as PyMySQL receives it
        assert pymysql.cursors.RE_INSERT_VALUES.match(statement), statement


def test_five_line_visit_costs_at_most_twelve_server_statements_whatever_the_lots(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    few = _reconcile(migrated_engine, _enc(clinic, 310, lines=5, lots=1)).server
    many = _reconcile(migrated_engine, _enc(clinic, 311, lines=5, lots=14)).server
    print("server statements, 5 lines x 1 lot / x 14 lots:", few, many)
    assert few <= WIRE_LIMIT and many <= WIRE_LIMIT, (few, many)
    assert many == few  # one statement per kind of write: lots do not add round trips


def test_one_and_ten_lines_cost_the_same_server_statements(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    one = _reconcile(migrated_engine, _enc(clinic, 320, lines=1, lots=6)).server
    ten = _reconcile(migrated_engine, _enc(clinic, 321, lines=10, lots=6)).server
    print("server statements, 1 line / 10 lines:", one, ten)
    assert one == ten <= WIRE_LIMIT, (one, ten)


def test_unchanged_resave_costs_no_write_on_the_wire(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    _reconcile(migrated_engine, _enc(clinic, 330, lines=5, lots=3))
    with on_the_wire(migrated_engine) as log:
        result = reconcile_visit(UnitOfWork(migrated_engine), 1, 330, service_username=SERVICE)
    assert not result.changed and result.writes == 0
    assert log.server <= WIRE_LIMIT


def _enc(clinic: Clinic, enc: int, *, lines: int, lots: int) -> int:
    _visit(clinic, enc, lines, lots)
    return enc



def test_each_kind_of_reconcile_costs_its_measured_statements(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    """The table of docs/consumption.md, as guards (issue 21: lower them, never raise
    them). On the wire: the engine's statements plus the COMMIT (no pre-ping: a pooled
    connection is pinged only after sitting idle). A return needs no lot read: its lot is
    known from its row, and the UPDATE that gives the units back locks it."""
    drug = clinic.add_drug("Botox", allow_combining=1)
    for n in range(4):
        clinic.add_lot(drug, 3, lot_number=f"L{n}")
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 400)
    line = clinic.add_line(1, 400, "15828", 5)
    costs: dict[str, tuple[int, int]] = {}

    def measure(name: str) -> None:
        with on_the_wire(migrated_engine) as wire, \
                dbtools.count_statements(migrated_engine) as log:
            reconcile_visit(UnitOfWork(migrated_engine), 1, 400, service_username=SERVICE)
        costs[name] = (log.count, wire.server)

    measure("first save")  # 5 units: rows a (L0: 3), b (L1: 2)
    measure("unchanged re-save")
    clinic.execute("UPDATE billing SET units = 4 WHERE id = :i", {"i": line})
    measure("units down, one row shrunk")  # b keeps 1
    clinic.execute("UPDATE billing SET units = 7 WHERE id = :i", {"i": line})
    measure("units up")  # rows c (L1: 2), d (L2: 1)
    clinic.execute("UPDATE billing SET units = 2 WHERE id = :i", {"i": line})
    measure("units down, rows deleted and one shrunk")  # d, c, b deleted; a keeps 2
    clinic.execute("UPDATE billing SET activity = 0 WHERE id = :i", {"i": line})
    measure("line deleted")
    print(costs)
    assert clinic.held(1, 400) == 0 and set(clinic.ledgers().values()) == {0}
    assert costs == {
        "first save": (7, 8),  # lock+held, facts, lots, usage, UPDATE, sales, ledger
        "unchanged re-save": (2, 3),
        "units up": (7, 8),
        "units down, one row shrunk": (5, 6),  # lock+held, facts, UPDATE, shrink, usage
        "units down, rows deleted and one shrunk": (6, 7),  # ... and the DELETE
        "line deleted": (5, 6),
    }


def test_draining_one_queued_line_costs_its_measured_statements(
    clinic: Clinic, migrated_engine: Engine
) -> None:
    """The queue drain row of docs/consumption.md: read the queue, claim the visit's
    rows, reconcile (a first save), delete the claimed rows; the read and the
    reconcile are two transactions (two ends on the wire)."""
    drug = clinic.add_drug("Botox", allow_combining=1)
    lot = clinic.add_lot(drug, 10, lot_number="L1")
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 410)
    clinic.add_line(1, 410, "15828", 3)  # the billing trigger queues the visit
    clinic.execute("DELETE FROM aesthetic_inventory_stock_queue")  # the lot's purchase row
    with on_the_wire(migrated_engine) as wire, \
            dbtools.count_statements(migrated_engine) as log:
        result = drain_change_queue(lambda: UnitOfWork(migrated_engine),
                                    service_username=SERVICE)
    print("drain of one queued line:", log.count, wire.server)
    assert (result.visits, result.changed) == (1, 1) and clinic.on_hand(lot) == 7
    assert (log.count, wire.server, len(log.writes)) == (10, 12, 5)
