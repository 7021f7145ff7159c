"""A real 3-node MariaDB Galera cluster for tests, from Debian's packages.

Every node is a ``mariadbd`` with ``wsrep_on`` and Debian's ``galera-4`` provider,
in one temporary directory under /tmp, listening on 127.0.0.1 on random ports
(SQL, group communication, IST and SST). Node 1 bootstraps the cluster; nodes 2
and 3 join it by rsync SST, which is why the nodes run as the ``mysql`` user (the
SST script's rsync daemon drops to it). :meth:`GaleraCluster.stop` stops every node
and removes the directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pymysql
from aesthetic_inventory.private_server import allow_tcp_root, free_port, stop_process

PROVIDER_CANDIDATES = ("/usr/lib/galera/libgalera_smm.so", "/usr/lib/libgalera_smm.so")


def galera_provider() -> str | None:
    """Path of the Galera provider library, or ``None`` when ``galera-4`` is missing."""
    return next((p for p in PROVIDER_CANDIDATES if Path(p).is_file()), None)


@dataclass
class GaleraNode:
    """One node: its directory, ports and process."""

    index: int
    base: Path
    port: int = field(default_factory=free_port)
    gcomm_port: int = field(default_factory=free_port)
    ist_port: int = field(default_factory=free_port)
    sst_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_path(self) -> Path:
        return self.base / "mysqld.sock"

    @property
    def log(self) -> Path:
        return self.base / "error.log"

    def url(self, database: str = "") -> str:
        """SQLAlchemy URL of this node (root over TCP)."""
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/{database}"

    def connect(self, **kwargs: object) -> Any:
        return pymysql.connect(
            unix_socket=str(self.socket_path), user="root", autocommit=True, **kwargs
        )


class GaleraCluster:
    """Start with :meth:`start`; ``nodes[i].url(db)`` is then node ``i``'s URL."""

    def __init__(self, size: int = 3) -> None:
        self.size = size
        self.base: Path | None = None
        self.nodes: list[GaleraNode] = []

    def start(self, timeout: float = 120.0) -> None:
        """Bootstrap node 1, join the others one by one (rsync SST), wait until the
        cluster reports every node synced."""
        provider = galera_provider()
        if provider is None or shutil.which("rsync") is None:
            raise RuntimeError(
                "galera-4 and rsync are needed for the cluster tests "
                "(scripts/ensure-prereqs.sh installs them)"
            )
        self.base = Path(tempfile.mkdtemp(prefix="aig-", dir="/tmp"))
        self.nodes = [GaleraNode(i + 1, self.base / f"n{i + 1}") for i in range(self.size)]
        for node in self.nodes:
            node.datadir.mkdir(parents=True)
            (node.base / "tmp").mkdir()
        self._chown(self.base)
        try:
            self._install(self.nodes[0])
            for node in self.nodes:
                self._launch(node, provider, bootstrap=node.index == 1)
                self._wait_ready(node, timeout)
                if node.index == 1:  # the joiners get the account by state transfer
                    allow_tcp_root(node.socket_path)
            self._wait_cluster_size(timeout)
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def _chown(path: Path) -> None:
        if os.geteuid() != 0:
            return
        mysql = pwd.getpwnam("mysql")
        for root, dirs, files in os.walk(path):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, mysql.pw_uid, mysql.pw_gid)

    def _user_args(self) -> list[str]:
        return ["--user=mysql"] if os.geteuid() == 0 else []

    def _install(self, node: GaleraNode) -> None:
        result = subprocess.run(
            [
                "mariadb-install-db", "--no-defaults", f"--datadir={node.datadir}",
                "--auth-root-authentication-method=normal", "--skip-test-db",
                "--skip-name-resolve", *self._user_args(),
            ],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {result.stderr[-500:]}")

    def _launch(self, node: GaleraNode, provider: str, *, bootstrap: bool) -> None:
        members = ",".join(f"127.0.0.1:{n.gcomm_port}" for n in self.nodes)
        options = (
            f"gmcast.listen_addr=tcp://127.0.0.1:{node.gcomm_port}; "
            f"ist.recv_addr=127.0.0.1:{node.ist_port}; gcache.size=64M; "
            "evs.suspect_timeout=PT5S; evs.inactive_timeout=PT10S"
        )
        args = [
            "mariadbd", "--no-defaults",
            f"--datadir={node.datadir}", f"--socket={node.socket_path}",
            f"--port={node.port}", "--bind-address=127.0.0.1",
            f"--pid-file={node.base / 'mysqld.pid'}", f"--log-error={node.log}",
            f"--tmpdir={node.base / 'tmp'}", "--skip-name-resolve",
            "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2",
            "--innodb-lock-wait-timeout=10", "--max-connections=200",
            "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
            "--binlog-format=ROW", "--default-storage-engine=InnoDB",
            "--innodb-autoinc-lock-mode=2", "--performance-schema=OFF",
            "--wsrep-on=ON", f"--wsrep-provider={provider}",
            f"--wsrep-cluster-address=gcomm://{'' if bootstrap else members}",
            "--wsrep-cluster-name=aesthetic_inventory_test",
            f"--wsrep-node-name=node{node.index}",
            f"--wsrep-node-address=127.0.0.1:{node.gcomm_port}",
            f"--wsrep-node-incoming-address=127.0.0.1:{node.port}",
            f"--wsrep-provider-options={options}",
            "--wsrep-sst-method=rsync",
            f"--wsrep-sst-receive-address=127.0.0.1:{node.sst_port}",
            "--wsrep-slave-threads=2",
            *self._user_args(),
        ]
        node.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    @staticmethod
    def _wait_ready(node: GaleraNode, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                tail = node.log.read_text(errors="replace")[-1500:] if node.log.exists() else ""
                raise RuntimeError(f"galera node {node.index} exited at start: {tail}")
            try:
                conn = node.connect()
            except pymysql.err.OperationalError:
                time.sleep(0.3)
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute("SHOW STATUS LIKE 'wsrep_local_state_comment'")
                    row = cur.fetchone()
                if row is not None and row[1] == "Synced":
                    return
            finally:
                conn.close()
            time.sleep(0.3)
        raise RuntimeError(f"galera node {node.index} did not sync within {timeout:.0f} s")

    def _wait_cluster_size(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            conn = self.nodes[0].connect()
            try:
                with conn.cursor() as cur:
                    cur.execute("SHOW STATUS LIKE 'wsrep_cluster_size'")
                    row = cur.fetchone()
            finally:
                conn.close()
            if row is not None and int(row[1]) == self.size:
                return
            time.sleep(0.3)
        raise RuntimeError("the galera cluster did not reach its size")

    def stop(self) -> None:
        """Stop every node (joiners first, gracefully, then by force) and delete the
        directory."""
        for node in reversed(self.nodes):
            stop_process(node.process)
            node.process = None
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
            self.base = None
