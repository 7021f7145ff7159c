"""The ASGI application: FastAPI routers over the module's services.

Built by :func:`create_web_app` from the composition root, so it shares the settings
and the services with the CLI and the background service. The routes live in
``api_routes.py`` (JSON under ``/api/v1``) and ``page_routes.py`` (pages); sign-in and
the request's one unit of work in ``auth.py``; the one error handler in ``errors.py``;
the ASGI layers (trusted proxies, body limit, security headers) in ``middleware.py``.
Every error leaves as seed 003's shape; nothing reaches the client as a traceback or SQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.engine import Engine

from ..bootstrap import App
from ..db import create_db_engine, ping_when_idle
from ..resources import templates_dir
from .api_routes import ERROR_RESPONSES, api_router
from .auth import PrincipalDep, get_principal
from .config import WebConfig
from .context import DEFAULT_SITE, GrantsCache, WebContext, WebEngines, WebSite, WebSites
from .errors import API_PREFIX, install_error_handlers
from .materials import MaterialsGateway, UsageMaterials
from .middleware import BodyLimit, ProxyHeaders, SecurityHeaders
from .page_routes import page_router
from .ratelimit import RateLimiter
from .recall_routes import include_recall_routes
from .scan_routes import scan_router
from .tokens import Signer

OPENAPI_PATH = API_PREFIX + "/openapi.json"
# A pooled connection idle this long is pinged before use (instead of on every
# checkout, which cost a round trip per unit of work).
IDLE_PING_SECONDS = 30.0


def build_engines(app: App, config: WebConfig) -> tuple[Engine, Engine, bool]:
    """The web's two engines on the site's database: no pre-ping (a ping only after an
    idle spell), pool sized to the request threads; reads in autocommit without the
    ROLLBACK that would follow each request. Without a database URL (an App built around
    a given engine) that engine serves both."""
    url = app.settings.database_url
    if not url:
        return app.engine, app.engine, False
    common: dict[str, Any] = {"pool_pre_ping": False, "pool_size": config.threads,
                              "max_overflow": config.threads}
    write = create_db_engine(url, **common)
    read = create_db_engine(url, isolation_level="AUTOCOMMIT", skip_autocommit_rollback=True,
                            **common)
    for engine in (write, read):
        ping_when_idle(engine, IDLE_PING_SECONDS)
    return write, read, True


def _sites(app: App, config: WebConfig, sites: Sequence[tuple[str, App]] | None
           ) -> WebSites:
    """The served sites: ``app``'s database as OpenEMR's ``default`` site, or the given
    (name, root) pairs, each with its own web engines (built on first use) and, with
    several sites, its own share of the worker threads."""
    pairs = list(sites) if sites else [(DEFAULT_SITE, app)]

    def engines(root: App) -> WebEngines:
        return WebEngines(lambda: build_engines(root, config))

    several = len(pairs) > 1
    return WebSites([
        WebSite(name, root, engines(root),
                anyio.Semaphore(config.threads) if several else None)
        for name, root in pairs])


def _context(app: App, config: WebConfig, materials: MaterialsGateway | None,
             sites: Sequence[tuple[str, App]] | None) -> WebContext:
    served = _sites(app, config, sites)
    templates = Environment(
        loader=FileSystemLoader(str(templates_dir() / "web")),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    templates.globals["several_sites"] = served.several  # pages then name the site
    return WebContext(
        app=app,
        config=config,
        signer=Signer(config.secret, session_seconds=config.session_seconds,
                      token_seconds=config.token_seconds),
        login_limiter=RateLimiter(config.login_attempts, config.login_window_seconds),
        materials=materials or UsageMaterials(app),
        sites=served,
        grants=GrantsCache(config.grants_cache_seconds),
        templates=templates,
    )


def _add_openapi_route(api: FastAPI, config: WebConfig) -> None:
    """The OpenAPI document: for signed-in users unless ``web_public_openapi``."""
    if config.public_openapi:
        @api.get(OPENAPI_PATH, include_in_schema=False)
        def public_openapi() -> dict[str, Any]:
            return api.openapi()
    else:
        @api.get(OPENAPI_PATH, include_in_schema=False)
        def openapi(_principal: PrincipalDep) -> dict[str, Any]:
            return api.openapi()


def create_web_app(app: App, *, materials: MaterialsGateway | None = None,
                   sites: Sequence[tuple[str, App]] | None = None) -> FastAPI:
    """The ASGI application over the composition root ``app``; ``sites`` (name, root of
    that site's database) serves several OpenEMR sites, the one of each session."""
    config = WebConfig.from_settings(app.settings)
    ctx = _context(app, config, materials, sites)

    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        # Bound the sync routes' worker threads by the connection pools (see WebConfig):
        # each site's pool and its share of the threads (its gate) are that many.
        total = config.threads * len(ctx.sites)
        anyio.to_thread.current_default_thread_limiter().total_tokens = total
        try:
            yield
        finally:
            ctx.sites.dispose()

    api = FastAPI(
        lifespan=lifespan,
        title="Aesthetic Inventory for OpenEMR",
        version="1",
        description="Planned vs actual materials of OpenEMR visits (seed 003), signed in as "
        "OpenEMR users; permissions from OpenEMR's ACL.",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        root_path=config.root_path,
    )
    api.state.ctx = ctx
    install_error_handlers(api)
    _add_openapi_route(api, config)
    api.include_router(api_router)
    api.include_router(page_router)
    include_recall_routes(api, get_principal)
    api.include_router(scan_router(get_principal, API_PREFIX), responses=ERROR_RESPONSES)
    # The last added is the outermost: the client's address first, then the body limit
    # (before anything reads the body or checks a session), then the headers.
    api.add_middleware(SecurityHeaders, config=config, api_prefix=API_PREFIX)
    api.add_middleware(BodyLimit, limit=config.max_body_bytes)
    api.add_middleware(ProxyHeaders, config=config)
    return api


def openapi_document(app: App) -> dict[str, Any]:
    """The OpenAPI document the server serves (for the committed copy and tests)."""
    return create_web_app(app).openapi()
