"""A real uvicorn server running the web application in a background thread (tests, bench)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from aesthetic_inventory.bootstrap import App, build_app
from aesthetic_inventory.web.app import create_web_app
from aesthetic_inventory.web.server import uvicorn_config

WEB_SECRET = "test-web-secret-0123456789abcdef"
LAUNCH_SECRET = "test-launch-secret-abcdef0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: App
    server: uvicorn.Server
    thread: threading.Thread

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False,
                            **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
        self.app.close()


def start_server(database_url: str, **settings: str) -> LiveServer:
    """Serve the real application on a free localhost port until :meth:`LiveServer.stop`."""
    environ = {
        "AESTHETIC_INVENTORY_WEB_SECRET": WEB_SECRET,
        "AESTHETIC_INVENTORY_OPENEMR_LAUNCH_SECRET": LAUNCH_SECRET,
        "AESTHETIC_INVENTORY_WEB_LOGIN_ATTEMPTS": "100000",
    }
    environ.update({"AESTHETIC_INVENTORY_" + k.upper(): v for k, v in settings.items()})
    app = build_app(database_url=database_url, environ=environ)
    port = free_port()
    config = uvicorn_config(create_web_app(app), host="127.0.0.1", port=port,
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("web server did not start")
        time.sleep(0.05)
    return LiveServer(f"http://127.0.0.1:{port}", app, server, thread)


@dataclass
class ServeProcess:
    """A running ``aesthetic-inventory serve``; ``out`` and ``err`` once it stopped."""

    proc: subprocess.Popen[str]
    base: str
    out: str = ""
    err: str = ""


@contextmanager
def serve_process(args: list[str], env: dict[str, str], port: int) -> Iterator[ServeProcess]:
    """``aesthetic-inventory <args>`` (a ``serve`` on ``port``) as a process, yielded once
    ``/healthz`` answers; at the end of the block it gets SIGTERM and is waited for (killed
    when the block failed). Its exit code is ``served.proc.returncode``."""
    script = str(Path(sys.executable).with_name("aesthetic-inventory"))
    proc = subprocess.Popen([script, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    served = ServeProcess(proc, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(served.base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            failed = proc.poll() is not None or time.monotonic() >= deadline
            assert not failed, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.2)
        yield served
        proc.send_signal(signal.SIGTERM)
        served.out, served.err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
