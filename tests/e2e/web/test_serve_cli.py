"""``aesthetic-inventory serve`` as a process: it serves, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aesthetic_inventory.web.server import bind
from conftest import PASSWORD, Site
from webserver import WEB_SECRET, free_port, serve_process

pytestmark = pytest.mark.e2e


def test_serve_answers_and_stops_gracefully_on_sigterm(site: Site) -> None:
    port = free_port()
    env = dict(os.environ, AESTHETIC_INVENTORY_DATABASE_URL=site.url,
               AESTHETIC_INVENTORY_WEB_SECRET=WEB_SECRET)
    with serve_process(["serve", "--port", str(port)], env, port) as served:
        resp = httpx.get(f"{served.base}/api/v1/me")
        assert resp.status_code == 401 and resp.json()["status"] == 401
    out, err = served.out, served.err
    assert served.proc.returncode == 0, err
    assert "serving on http://127.0.0.1:" in out
    assert "Shutting down" in err and "web server stopped" in err
    assert "Traceback" not in err and WEB_SECRET not in out + err


def _serve(site: Site, port: int, *extra: str) -> subprocess.Popen[str]:
    script = Path(sys.executable).with_name("aesthetic-inventory")
    env = dict(os.environ, AESTHETIC_INVENTORY_DATABASE_URL=site.url)
    env.pop("AESTHETIC_INVENTORY_WEB_SECRET", None)
    return subprocess.Popen([str(script), "serve", "--port", str(port), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_serve_on_a_busy_port_says_so_in_one_line(site: Site) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _serve(site, port)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines[-1] == (f"Error: cannot serve on 127.0.0.1:{port}: the port is in use "
                         "(another server?); choose another --port")
    assert "Traceback" not in err and "Uvicorn" not in err
    assert out == ""  # nothing claims to be serving


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.append(int(entry.name))
    return found


def test_serve_with_workers_runs_processes_that_share_sign_ins(site: Site) -> None:
    port = free_port()
    proc = _serve(site, port, "--workers", "2")
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz").status_code == 200 and \
                        len(_children(proc.pid)) >= 2:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.2)
        assert len(_children(proc.pid)) >= 2  # two server processes on one socket
        token = httpx.post(base + "/api/v1/auth/token",
                           json={"username": "nurse", "password": PASSWORD}).json()
        headers = {"Authorization": "Bearer " + token["accessToken"]}
        # whichever process answers, the token (one shared secret, sessions in the
        # database) is good
        codes = {httpx.get(base + "/api/v1/me", headers=headers).status_code
                 for _ in range(20)}
        assert codes == {200}
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "2 processes" in out
    assert proc.returncode == 0, err


def test_the_listening_socket_lets_asyncio_disable_nagle() -> None:
    """asyncio sets TCP_NODELAY on accepted connections only when the listening socket
    says IPPROTO_TCP; without it every answer waited 40 ms for a delayed ACK."""
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
