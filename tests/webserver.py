"""A real uvicorn server running the web application in a background thread (tests, bench)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

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
