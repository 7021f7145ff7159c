"""A private, throwaway MariaDB/MySQL server in a temporary directory.

Used by ``demo`` and by the test suite when no server is configured: the data
directory, socket and logs live in one temporary directory, the server listens on
127.0.0.1 on a free port, and :meth:`PrivateServer.stop` removes everything.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import pymysql

from . import db_repository
from .errors import ServerStartError

_SEARCH_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin", "/usr/libexec")


def _which(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for directory in _SEARCH_DIRS:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


def find_server_binary() -> str | None:
    """Path of a MariaDB or MySQL server binary, or ``None``."""
    return _which("mariadbd", "mysqld")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    return _free_port()


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """Stop a server process: gracefully (SIGTERM, 30 s), then by force."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def allow_tcp_root(socket_path: Path) -> None:
    """Let root connect over TCP from 127.0.0.1 (through the server's socket)."""
    # With --skip-name-resolve, a TCP client from 127.0.0.1 does not match
    # root@localhost, so give root the loopback address too.
    conn = pymysql.connect(unix_socket=str(socket_path), user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            db_repository.allow_tcp_root(cur)
    finally:
        conn.close()


class PrivateServer:
    """Start a server with :meth:`start`; :attr:`url` is then a root URL without database."""

    def __init__(self) -> None:
        self.base_dir: Path | None = None
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        assert self.base_dir is not None
        return self.base_dir / "mysqld.sock"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the server (root, no password, no database)."""
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/"

    def __enter__(self) -> PrivateServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout: float = 60.0) -> str:
        """Initialise a data directory, start the server and wait until it answers."""
        server = find_server_binary()
        if server is None:
            raise ServerStartError(
                "no MariaDB/MySQL server binary found: install the 'mariadb-server' package"
            )
        # A short path: the socket path must stay under the 108-byte limit.
        self.base_dir = Path(tempfile.mkdtemp(prefix="aiv-", dir="/tmp"))
        datadir = self.base_dir / "data"
        datadir.mkdir()
        self.port = _free_port()
        user_args = ["--user=root"] if os.geteuid() == 0 else []
        version = subprocess.run(
            [server, "--version"], capture_output=True, text=True, check=False
        ).stdout
        try:
            if "mariadb" in version.lower():
                installer = _which("mariadb-install-db", "mysql_install_db")
                if installer is None:
                    raise ServerStartError("mariadb-install-db not found next to the server")
                init = [
                    installer,
                    "--no-defaults",
                    f"--datadir={datadir}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                    *user_args,
                ]
            else:
                init = [
                    server,
                    "--no-defaults",
                    "--initialize-insecure",
                    f"--datadir={datadir}",
                    *user_args,
                ]
            result = subprocess.run(init, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
                raise ServerStartError(f"could not initialise a data directory: {tail[0]}")
            self._launch(server, user_args)
            self._wait_ready(timeout, self.base_dir / "error.log")
            self._allow_tcp_root()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _launch(self, server: str, user_args: list[str]) -> None:
        """Start the server process on the existing data directory, port and socket."""
        assert self.base_dir is not None
        datadir = self.base_dir / "data"
        log = self.base_dir / "error.log"
        # its own temporary directory: on-disk temporary tables never live in the
        # machine's /tmp, where another process's clean-up could remove them
        tmpdir = self.base_dir / "tmp"
        tmpdir.mkdir(exist_ok=True)
        args = [
            server,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={self.socket_path}",
            f"--port={self.port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={self.base_dir / 'mysqld.pid'}",
            f"--log-error={log}",
            f"--tmpdir={tmpdir}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=256M",
            "--innodb-flush-log-at-trx-commit=2",
            "--innodb-lock-wait-timeout=10",
            "--max-connections=300",
            "--character-set-server=utf8mb4",
            *user_args,
        ]
        self.process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )

    def restart(self, down_seconds: float = 0.0, timeout: float = 60.0) -> None:
        """Stop the server process (keeping its data), optionally stay down for
        ``down_seconds``, and start it again on the same port and socket.

        Used by fault tests: a service must survive its database going away."""
        server = find_server_binary()
        if server is None or self.base_dir is None:
            raise ServerStartError("private database server is not running")
        self._terminate()
        time.sleep(down_seconds)
        self._launch(server, ["--user=root"] if os.geteuid() == 0 else [])
        self._wait_ready(timeout, self.base_dir / "error.log")

    def _terminate(self) -> None:
        stop_process(self.process)
        self.process = None

    def _wait_ready(self, timeout: float, log: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                tail = text.strip().splitlines()[-1:]
                raise ServerStartError(
                    "private database server exited at start: " + (tail[0] if tail else "no log")
                )
            try:
                pymysql.connect(unix_socket=str(self.socket_path), user="root").close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.2)
        raise ServerStartError(f"private database server did not answer within {timeout:.0f} s")

    def _allow_tcp_root(self) -> None:
        allow_tcp_root(self.socket_path)

    def stop(self) -> None:
        """Stop the server (gracefully, then by force) and delete its directory."""
        self._terminate()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None
