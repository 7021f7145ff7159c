"""What the web routes share: the composition root, the web engines, the adapters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from fastapi import Request
from jinja2 import Environment
from sqlalchemy.engine import Engine

from ..acl import Grants
from ..bootstrap import App
from .config import WebConfig
from .materials import MaterialsGateway
from .ratelimit import RateLimiter
from .tokens import Signer


class WebEngines:
    """``write``: READ COMMITTED transactions; ``read``: autocommit, for safe requests.

    Built on first use (the OpenAPI document needs no database) by ``build``, which
    returns both; ``owned`` says whether they are the web's own (disposed at shutdown)
    or the composition root's engine.
    """

    def __init__(self, build: Callable[[], tuple[Engine, Engine, bool]]) -> None:
        self._build = build
        self._engines: tuple[Engine, Engine, bool] | None = None
        self._lock = threading.Lock()

    def _get(self) -> tuple[Engine, Engine, bool]:
        if self._engines is None:
            with self._lock:
                if self._engines is None:
                    self._engines = self._build()
        return self._engines

    @property
    def write(self) -> Engine:
        """The transactional engine."""
        return self._get()[0]

    @property
    def read(self) -> Engine:
        """The autocommit engine of safe requests."""
        return self._get()[1]

    def dispose(self) -> None:
        """Close the pooled connections of both (the App disposes of its own engine)."""
        if self._engines is not None and self._engines[2]:
            self._engines[0].dispose()
            self._engines[1].dispose()
        self._engines = None


class GrantsCache:
    """A session's ACL grants, reused for ``seconds`` (issue 21: re-reading them on
    every request was 17 % of the server's time). Deactivation is still seen at once:
    the session check reads ``users.active`` on every request."""

    def __init__(self, seconds: float, max_entries: int = 10_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Grants]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> Grants | None:
        """The cached grants of session ``key``, or None when absent or stale."""
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, grants: Grants) -> None:
        """Remember ``grants`` for session ``key``."""
        if self.seconds <= 0:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
            self._entries[key] = (now + self.seconds, grants)

    def drop(self, key: str) -> None:
        """Forget session ``key`` (sign-out)."""
        with self._lock:
            self._entries.pop(key, None)


@dataclass
class WebContext:
    """The composition root and the web adapters, built once per process."""

    app: App
    config: WebConfig
    signer: Signer
    login_limiter: RateLimiter
    materials: MaterialsGateway
    engines: WebEngines
    grants: GrantsCache
    templates: Environment = field(repr=False)


@dataclass(frozen=True)
class Principal:
    """The signed-in user of one request and how they proved it."""

    username: str
    grants: Grants
    via: Literal["cookie", "token"]
    csrf: str = ""
    session_hash: str = ""


def web_context(request: Request) -> WebContext:
    """The process's :class:`WebContext`."""
    context: WebContext = request.app.state.ctx
    return context
