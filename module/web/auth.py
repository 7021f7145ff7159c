"""Who is asking: the request's site and unit of work, sign-in, and the signed-in principal.

Every authenticated request costs one statement for its session (``web/sessions.py``:
revoked, expired, or an inactive user are refused), run on the route's one unit of work
(:func:`signed_in`); the ACL grants are read once per session and reused for
``web_grants_cache_seconds``.

Multisite: a session is bound to the OpenEMR site it was opened on (the signed cookie or
token names it, its row lives in that site's database); the credentials choose the site
in Python, so every statement of the request goes to that site's engine and no request
costs a statement more.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Literal, TypeVar

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..acl import load_grants
from ..errors import (
    AuthenticationError,
    CsrfError,
    InvalidInputError,
    NotAuthenticatedError,
    TooManyAttemptsError,
)
from . import services
from .context import Principal, WebSite, bind_site, site_of, web_context
from .request_uow import RequestUnitOfWork
from .sessions import check_session
from .tokens import Session

log = logging.getLogger(__name__)
T = TypeVar("T")

SESSION_COOKIE = "ai_session"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

bearer_scheme = HTTPBearer(auto_error=False, description="token from POST /api/v1/auth/token")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description="session cookie set by the sign-in page")


@contextmanager
def request_unit(request: Request, site: WebSite | None = None) -> Iterator[RequestUnitOfWork]:
    """The route's one unit of work on ``site``'s database (default: the site of the
    request's session), autocommit reads for GET/HEAD, opened and closed inside the
    route's own worker thread.

    A connection must never be held from one worker-thread hop to the next (a
    dependency, then the route): with more requests in flight than threads, threads
    waiting for a connection and connections waiting for a thread wait for each other
    until the pool times out (30 s; seen with 20 clients).
    """
    engines = (site or site_of(request)).engines
    safe = request.method in ("GET", "HEAD")
    uow = RequestUnitOfWork(engines.read if safe else engines.write)
    try:
        yield uow
    finally:
        uow.close()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


async def on_site(site: WebSite, work: Callable[[], T]) -> T:
    """Run ``work`` (database work on ``site``) on a worker thread, within the site's
    share of the threads (routes that choose the site themselves: sign-in, launch)."""
    if site.gate is None:
        return await run_in_threadpool(work)
    async with site.gate:
        return await run_in_threadpool(work)


@dataclass(frozen=True)
class Credentials:
    """A signed session or token, checked without the database (signature, age, CSRF),
    and the site it is bound to."""

    session: Session
    via: Literal["cookie", "token"]
    site: WebSite


def read_credentials(request: Request, bearer: HTTPAuthorizationCredentials | None,
                     cookie: str | None) -> Credentials:
    """Bearer token or session cookie, signature checked; cookie writes need the CSRF
    header; the session's site, which a ``?site=`` of the request must not contradict."""
    ctx = web_context(request)
    if bearer is not None:
        session, via = ctx.signer.read_token(bearer.credentials), "token"
    elif cookie:
        session, via = ctx.signer.read_session(cookie), "cookie"
        if request.method in _UNSAFE:
            sent = request.headers.get("x-csrf-token", "")
            if not sent or not same(sent, session.csrf):
                raise CsrfError()
    else:
        raise NotAuthenticatedError("authentication required")
    try:
        site = ctx.sites.get(session.site)
    except InvalidInputError:  # a site no longer served
        raise NotAuthenticatedError("the session's site is not served here") from None
    asked = request.query_params.get("site")
    if asked is not None and asked != site.name:
        raise NotAuthenticatedError(f"signed in to site {site.name}, not {asked[:64]}")
    bind_site(request, site)
    return Credentials(session, "token" if via == "token" else "cookie", site)


async def get_credentials(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> AsyncIterator[Credentials]:
    """The request's credentials (no I/O: on the event loop, no worker thread). With
    several sites the request then waits, without a thread, for a place in its site's
    share of the worker threads, so a site whose database hangs stalls only itself."""
    credentials = read_credentials(request, bearer, cookie)
    gate = credentials.site.gate
    if gate is None:
        yield credentials
        return
    async with gate:
        yield credentials


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]


def authorize(request: Request, uow: RequestUnitOfWork, credentials: Credentials
              ) -> Principal:
    """The signed-in user: the session's row (one statement: signed out, revoked, expired
    or an inactive user are refused) and the session's cached ACL grants."""
    ctx = web_context(request)
    session, key = credentials.session, grants_key(credentials.site, credentials.session)
    check_session(uow.open(), session, credentials.via)
    grants = ctx.grants.get(key)
    if grants is None:
        grants = load_grants(uow.connection, session.username)
        ctx.grants.put(key, grants)
    return Principal(session.username, grants, credentials.via, session.csrf, key,
                     credentials.site.name)


def grants_key(site: WebSite, session: Session) -> str:
    """A session's key in the grants cache (per site: each has its own ACL)."""
    return f"{site.name}:{session.id_hash}"


@contextmanager
def signed_in(request: Request, credentials: Credentials
              ) -> Iterator[tuple[RequestUnitOfWork, Principal]]:
    """The route's one unit of work and who is asking, checked on that unit's connection
    (the session check and the route's work share one connection and transaction)."""
    with request_unit(request, credentials.site) as uow:
        yield uow, authorize(request, uow, credentials)


def get_principal(request: Request, credentials: CredentialsDep) -> Principal:
    """For routes without database work of their own: the check on a short unit."""
    uow = RequestUnitOfWork(credentials.site.engines.read)
    try:
        return authorize(request, uow, credentials)
    finally:
        uow.close()


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def client_address(request: Request) -> str:
    """The peer address (a trusted proxy's forwarded one, see ``middleware.py``)."""
    return request.client.host if request.client else "unknown"


def sign_in(request: Request, uow: RequestUnitOfWork, username: str, password: str,
            site: WebSite) -> str:
    """Rate-limited sign-in (per client address and per username of ``site``), checked
    against ``site``'s OpenEMR users (``uow`` is on its database); the canonical name."""
    ctx = web_context(request)
    address = client_address(request)
    if not (ctx.login_limiter.hit("ip:" + address)
            and ctx.login_limiter.hit(f"user:{site.name}:{username.lower()}")):
        raise TooManyAttemptsError("too many sign-in attempts; wait a few minutes")
    try:
        return services.authenticate(uow.factory(), username, password)
    except AuthenticationError as exc:
        log.info("sign-in refused for %r from %s: %s", username, address, exc.reason)
        raise
