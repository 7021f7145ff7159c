"""Run the web application under uvicorn, stopping gracefully on SIGTERM/SIGINT.

uvicorn installs the signal handlers: on SIGTERM it stops accepting connections, lets
in-flight requests finish (up to ``timeout_graceful_shutdown`` seconds) and returns; the
composition root's engine is disposed afterwards.

The listening socket is bound here, before uvicorn starts, so a busy port is one line
and exit status 1 (uvicorn would log and ``sys.exit`` from inside). With ``workers`` > 1
uvicorn's process supervisor runs that many server processes on the one socket (the
interpreter lock made one process the bottleneck at 20 clients, issue 21); each builds
its own composition root from the same settings (:func:`worker_app`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from ..bootstrap import App, build_app
from ..errors import ListenError
from .app import create_web_app

log = logging.getLogger(__name__)

WORKER_FACTORY = "aesthetic_inventory.web.server:worker_app"
# The served sites (JSON name -> database URL) handed to the worker processes; not a
# setting (the settings' AESTHETIC_INVENTORY_ prefix), only serve's own hand-over.
SITES_VARIABLE = "AESTHETIC_INVENTORY_SERVE_SITES_JSON"


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


def uvicorn_config(web: FastAPI | str, *, host: str, port: int, graceful_seconds: int = 15,
                   log_level: str = "info", **options: Any) -> uvicorn.Config:
    """The uvicorn settings of the server (tests start theirs with the same).

    uvicorn's own proxy headers are off: by default they believe ``X-Forwarded-For``
    from 127.0.0.1; the application's ``ProxyHeaders`` layer believes only the
    configured ``web_trusted_proxies``."""
    return uvicorn.Config(
        web, host=host, port=port, proxy_headers=False,
        timeout_graceful_shutdown=graceful_seconds, log_level=log_level, access_log=False,
        server_header=False, **options,
    )


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, or :class:`ListenError` in one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY on accepted connections only for
    # sockets that say so; without it Nagle and delayed ACKs add 40 ms to every answer.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ListenError(f"cannot serve on {host}:{port}: the port is in use "
                              "(another server?); choose another --port") from None
        if exc.errno == errno.EACCES:
            raise ListenError(f"cannot serve on {host}:{port}: permission denied "
                              "(ports below 1024 need privileges)") from None
        reason = exc.strerror or str(exc)
        raise ListenError(f"cannot serve on {host}:{port}: {reason}") from None
    # Listen now (the server listens again, which is harmless): a bound socket that does
    # not listen yet would let a second server bind the same port until its workers start.
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def worker_app() -> FastAPI:
    """One worker process's application (uvicorn calls this factory in each process);
    the settings and the sites come from the environment :func:`serve` prepared."""
    app = build_app()
    shared = os.environ.get(SITES_VARIABLE)
    sites = [(name, app.for_site(url)) for name, url in json.loads(shared).items()
             ] if shared else None
    return create_web_app(app, sites=sites)


def _share_settings(app: App, sites: Sequence[tuple[str, App]] | None) -> None:
    """Make the worker processes resolve the same settings as this process (the
    command-line database URL and config file, the sites, one web secret for all)."""
    if sites:
        os.environ[SITES_VARIABLE] = json.dumps(
            {name: root.settings.database_url for name, root in sites})
    if app.settings.database_url:
        os.environ["AESTHETIC_INVENTORY_DATABASE_URL"] = app.settings.database_url
    if app.config_path:
        os.environ["AESTHETIC_INVENTORY_CONFIG"] = app.config_path
    if not app.settings.get("web_secret"):
        # Without it each worker would sign with its own random key and reject the
        # others' cookies; still a random one (sign-ins end on restart), but shared.
        os.environ["AESTHETIC_INVENTORY_WEB_SECRET"] = secrets.token_urlsafe(32)


def serve(app: App, *, host: str = "127.0.0.1", port: int = 8470, workers: int = 1,
          graceful_seconds: int = 15, announce: Callable[[], None] | None = None,
          sites: Sequence[tuple[str, App]] | None = None) -> None:
    """Serve until a stop signal arrives (blocks); ``announce`` runs once the port is
    bound (so a busy port prints only the error); ``sites``: several OpenEMR sites
    (name, root of its database), closed by the caller."""
    sock = bind(host, port)
    if announce is not None:
        announce()
    try:
        if workers > 1:
            _share_settings(app, sites)
            config = uvicorn_config(WORKER_FACTORY, host=host, port=port, factory=True,
                                    workers=workers, graceful_seconds=graceful_seconds)
            Multiprocess(config, sockets=[sock]).run()
        else:
            config = uvicorn_config(create_web_app(app, sites=sites), host=host, port=port,
                                    graceful_seconds=graceful_seconds)
            _GracefulServer(config).run(sockets=[sock])
    finally:
        sock.close()
        app.close()
        log.info("web server stopped")
