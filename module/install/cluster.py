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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..db import MODULE_TABLE_PATTERN, non_innodb_tables

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

SYNC_WAIT_FIX = (
    "let the module's sessions see every committed write before they read: add "
    "init_command=SET SESSION wsrep_sync_wait=1 to the database URL (or SET GLOBAL "
    "wsrep_sync_wait=1)"
)


@dataclass(frozen=True)
class ClusterInfo:
    """What the server says about the cluster it belongs to."""

    kind: str  # "galera", "group_replication" or "" (a single server)
    name: str
    size: int
    state: str  # Galera: wsrep_local_state_comment; GR: this member's state
    binlog_format: str
    sync_wait: int | None  # Galera only
    multi_primary: bool


class ClusterRepository:
    """The reads of the cluster check, on one connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def _global(self, table: str, names: Sequence[str]) -> dict[str, str]:
        """Global variables (``GLOBAL_VARIABLES``) or status (``GLOBAL_STATUS``)."""
        rows = self.conn.execute(
            text(
                "SELECT LOWER(VARIABLE_NAME), VARIABLE_VALUE "
                f"FROM information_schema.{table} WHERE LOWER(VARIABLE_NAME) IN :names"
            ).bindparams(bindparam("names", expanding=True)),
            {"names": list(names)},
        )
        return {str(name): str(value) for name, value in rows}

    def info(self) -> ClusterInfo:
        """Galera (``wsrep_on``), Group Replication (its plugin active with a group
        name) or neither."""
        names = ("wsrep_on", "wsrep_provider", "wsrep_cluster_name", "binlog_format",
                 "group_replication_group_name", "group_replication_single_primary_mode")
        values = self._global("GLOBAL_VARIABLES", names)
        binlog = values.get("binlog_format", "").upper()
        if values.get("wsrep_on", "").upper() == "ON" and values.get("wsrep_provider", "none") \
                not in ("", "none"):
            status = self._global(
                "GLOBAL_STATUS", ("wsrep_cluster_size", "wsrep_local_state_comment")
            )
            return ClusterInfo(
                "galera", values.get("wsrep_cluster_name", ""),
                int(status.get("wsrep_cluster_size", "0") or 0),
                status.get("wsrep_local_state_comment", ""), binlog,
                # this session's value: the URL's init_command may set it
                int(self.conn.execute(text("SELECT @@SESSION.wsrep_sync_wait")).scalar() or 0),
                True,
            )
        if values.get("group_replication_group_name"):
            members = self.conn.execute(
                text("SELECT MEMBER_STATE FROM performance_schema.replication_group_members")
            ).scalars().all()
            return ClusterInfo(
                "group_replication", values["group_replication_group_name"], len(members),
                ",".join(sorted(set(map(str, members)))), binlog, None,
                values.get("group_replication_single_primary_mode", "ON").upper() == "OFF",
            )
        return ClusterInfo("", "", 1, "", binlog, None, False)

    def tables_without_primary_key(self, tables: Sequence[str]) -> list[str]:
        """Base tables among ``tables`` and the module's own that have no primary key."""
        rows = self.conn.execute(
            text(
                "SELECT t.TABLE_NAME FROM information_schema.TABLES t "
                "LEFT JOIN information_schema.TABLE_CONSTRAINTS c "
                "ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME "
                "AND c.CONSTRAINT_TYPE = 'PRIMARY KEY' "
                "WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' "
                "AND (t.TABLE_NAME IN :names OR t.TABLE_NAME LIKE :module) "
                "AND c.CONSTRAINT_NAME IS NULL ORDER BY t.TABLE_NAME"
            ).bindparams(bindparam("names", expanding=True)),
            {"names": list(tables), "module": MODULE_TABLE_PATTERN},
        )
        return [str(r[0]) for r in rows]


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
        fixes.append("set binlog_format=ROW on every node")
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
        fixes.append("ALTER TABLE ... ENGINE=InnoDB")
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
