"""What the web routes share: the composition root, the sites with their web engines,
the adapters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import anyio
from fastapi import Request
from jinja2 import Environment
from sqlalchemy.engine import Engine

from ..acl import Grants
from ..bootstrap import App
from ..errors import InvalidInputError, NotFoundError
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


# OpenEMR's site when a login names none (interface/login: ``$_GET['site'] ?? 'default'``)
DEFAULT_SITE = "default"


class UnknownSiteError(NotFoundError):
    """A sign-in or launch names a site this server does not serve."""


@dataclass
class WebSite:
    """One OpenEMR site the server serves: its name (OpenEMR's ``site_id``), its
    composition root (same settings, its own database) and its web engines.

    ``gate`` bounds the requests of this site that hold a worker thread (None with one
    site): a site whose database hangs holds at most its own share of the threads."""

    name: str
    app: App
    engines: WebEngines
    gate: anyio.Semaphore | None = None


class WebSites:
    """The sites of the process, by name (one, named ``default``, without multisite)."""

    def __init__(self, sites: Sequence[WebSite]) -> None:
        self._by_name = {site.name: site for site in sites}
        self.names = tuple(site.name for site in sites)

    def __len__(self) -> int:
        return len(self._by_name)

    @property
    def several(self) -> bool:
        """Whether the sign-in asks which site."""
        return len(self._by_name) > 1

    def get(self, name: str | None) -> WebSite:
        """The site ``name``; no name is the only site, else OpenEMR's ``default``."""
        name = (name or "").strip()
        if not name:
            if len(self._by_name) == 1:
                return next(iter(self._by_name.values()))
            name = DEFAULT_SITE
            if name not in self._by_name:
                raise InvalidInputError("choose the OpenEMR site to sign in to")
        site = self._by_name.get(name)
        if site is None:
            raise UnknownSiteError(f"no such site: {name[:64]}")
        return site

    def __iter__(self) -> Iterator[WebSite]:
        return iter(self._by_name.values())

    def dispose(self) -> None:
        """Close every site's web engines."""
        for site in self._by_name.values():
            site.engines.dispose()


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
    sites: WebSites
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
    site: str = ""


def web_context(request: Request) -> WebContext:
    """The process's :class:`WebContext`."""
    context: WebContext = request.app.state.ctx
    return context


def bind_site(request: Request, site: WebSite) -> None:
    """Remember the site of the request's session (set when its credentials are read)."""
    request.state.web_site = site


def site_of(request: Request) -> WebSite:
    """The site of the signed-in request: every database access of the request goes to
    it. A route that did not authenticate has none (an error, never a default site)."""
    site: WebSite | None = getattr(request.state, "web_site", None)
    if site is None:
        raise RuntimeError("site_of() before the request's credentials were read")
    return site
