"""Run the web application under uvicorn, stopping gracefully on SIGTERM/SIGINT.

uvicorn installs the signal handlers: on SIGTERM it stops accepting connections, lets
in-flight requests finish (up to ``timeout_graceful_shutdown`` seconds) and returns; the
composition root's engine is disposed afterwards.
"""

from __future__ import annotations

import logging

import uvicorn

from ..bootstrap import App
from .app import create_web_app

log = logging.getLogger(__name__)


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
    server = uvicorn.Server(config)
    try:
        server.run()
    finally:
        app.close()
        log.info("web server stopped")
