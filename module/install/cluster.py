"""``doctor``'s cluster check: on a MariaDB Galera cluster or MySQL Group Replication,
what the module needs from the cluster.

Both replicate InnoDB row changes only, certify by primary key (a table without one
is replicated slowly or not safely), and need ``binlog_format=ROW``. Galera reads
may lag behind a commit made on another node; ``wsrep_sync_wait`` makes a session
wait for the writes the cluster already committed before it reads, which the
module's read-then-decide transactions (alert scan, outbox claim) prefer. On a
single server this check is not part of the report at all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Connection

from ..db import non_innodb_tables
from .cluster_repository import (
    BINLOG_FIX,
    ENGINE_FIX,
    SYNC_WAIT_FIX,
    ClusterRepository,
)

C = TypeVar("C")

# OpenEMR tables the module writes (besides its own aesthetic_inventory_* tables):
# stock and sales, fee-sheet lines (the Python fee-sheet API), the alert job's
# background_services row and claim, the CRM and message channels, the module row.
WRITTEN_OPENEMR_TABLES: tuple[str, ...] = (
    "drugs",
    "drug_inventory",
    "drug_sales",
    "billing",
    "background_services",
    "notification_log",
    "pnotes",
    "modules",
)


def cluster_checks(conn: Connection, make_check: Callable[..., C]) -> tuple[C, ...]:
    """The ``cluster`` check (built with doctor's ``Check``), or nothing on a single
    server."""
    repo = ClusterRepository(conn)
    info = repo.info()
    if not info.kind:
        return ()
    problems: list[str] = []
    fixes: list[str] = []
    failed = False
    if info.binlog_format != "ROW":
        failed = True
        problems.append(f"binlog_format is {info.binlog_format or 'unknown'}, not ROW")
        fixes.append(BINLOG_FIX)
    no_key = repo.tables_without_primary_key(WRITTEN_OPENEMR_TABLES)
    if no_key:
        failed = True
        problems.append("tables the module writes without a primary key: " + ", ".join(no_key))
        fixes.append("give each a primary key (ALTER TABLE ... ADD PRIMARY KEY)")
    not_innodb = non_innodb_tables(conn, WRITTEN_OPENEMR_TABLES)
    if not_innodb:
        failed = True
        problems.append("not InnoDB (not replicated): "
                        + ", ".join(f"{t} ({e})" for t, e in not_innodb))
        fixes.append(ENGINE_FIX)
    if info.kind == "galera" and info.state != "Synced":
        failed = True
        problems.append(f"this node is {info.state or 'not ready'}, not Synced")
        fixes.append("connect the module to a synced node (or through a proxy that does)")
    warned = info.kind == "galera" and not info.sync_wait
    if warned:
        problems.append("wsrep_sync_wait is 0: a read may miss a write another node committed")
        fixes.append(SYNC_WAIT_FIX)
    what = "Galera" if info.kind == "galera" else "Group Replication"
    mode = " multi-primary" if info.kind == "group_replication" and info.multi_primary else ""
    summary = f"{what}{mode} cluster {info.name!r}, {info.size} node(s), this node {info.state}"
    if not failed:
        summary += "; primary keys, ROW binlog and InnoDB as the module needs"
    status = "fail" if failed else "warn" if warned else "ok"
    return (make_check("cluster", status, summary, tuple(problems), "; ".join(fixes)),)
