"""Run the web application under uvicorn, stopping gracefully on SIGTERM/SIGINT.

uvicorn installs the signal handlers: on SIGTERM it stops accepting connections, lets
in-flight requests finish (up to ``timeout_graceful_shutdown`` seconds) and returns; the
composition root's engine is disposed afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator

import uvicorn

from ..bootstrap import App
from .app import create_web_app

log = logging.getLogger(__name__)


class _GracefulServer(uvicorn.Server):
    """uvicorn's server, but a stop signal is a normal end (exit status 0).

    uvicorn re-raises the captured signal after its graceful shutdown, which kills the
    process with -15 before the composition root is closed; a service manager then
    reports a failure for an orderly stop.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit)
                    for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def serve(app: App, *, host: str = "127.0.0.1", port: int = 8470,
          graceful_seconds: int = 15) -> None:
    """Serve until a stop signal arrives (blocks)."""
    web = create_web_app(app)
    config = uvicorn.Config(
        web,
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=graceful_seconds,
        log_level="info",
        access_log=False,
        server_header=False,
    )
    server = _GracefulServer(config)
    try:
        server.run()
    finally:
        app.close()
        log.info("web server stopped")
