"""The SQL of ``doctor``'s cluster check (:mod:`.cluster` decides): what the server
says about the Galera cluster or Group Replication group it belongs to, the tables
without a primary key, and the statements the check's fixes name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..db import MODULE_TABLE_PATTERN

# The statements the cluster check's fixes name (the admin runs them).
BINLOG_FIX = "set binlog_format=ROW on every node"
ENGINE_FIX = "ALTER TABLE ... ENGINE=InnoDB"
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
