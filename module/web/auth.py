"""Who is asking: the request's unit of work, sign-in, and the signed-in principal.

Every authenticated request costs one statement for its session (``web/sessions.py``:
revoked, expired, or an inactive user are refused), run on the route's one unit of work
(:func:`signed_in`); the ACL grants are read once per session and reused for
``web_grants_cache_seconds``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from ..acl import load_grants
from ..errors import AuthenticationError, CsrfError, NotAuthenticatedError, TooManyAttemptsError
from . import services
from .context import Principal, web_context
from .request_uow import RequestUnitOfWork
from .sessions import check_session
from .tokens import Session

log = logging.getLogger(__name__)

SESSION_COOKIE = "ai_session"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

bearer_scheme = HTTPBearer(auto_error=False, description="token from POST /api/v1/auth/token")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description="session cookie set by the sign-in page")


@contextmanager
def request_unit(request: Request) -> Iterator[RequestUnitOfWork]:
    """The route's one unit of work (autocommit reads for GET/HEAD), opened and closed
    inside the route's own worker thread.

    A connection must never be held from one worker-thread hop to the next (a
    dependency, then the route): with more requests in flight than threads, threads
    waiting for a connection and connections waiting for a thread wait for each other
    until the pool times out (30 s; seen with 20 clients).
    """
    engines = web_context(request).engines
    safe = request.method in ("GET", "HEAD")
    uow = RequestUnitOfWork(engines.read if safe else engines.write)
    try:
        yield uow
    finally:
        uow.close()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class Credentials:
    """A signed session or token, checked without the database (signature, age, CSRF)."""

    session: Session
    via: Literal["cookie", "token"]


def get_credentials(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Credentials:
    """Bearer token or session cookie, signature checked; cookie writes need the CSRF
    header."""
    ctx = web_context(request)
    if bearer is not None:
        return Credentials(ctx.signer.read_token(bearer.credentials), "token")
    if cookie:
        session = ctx.signer.read_session(cookie)
        if request.method in _UNSAFE:
            sent = request.headers.get("x-csrf-token", "")
            if not sent or not same(sent, session.csrf):
                raise CsrfError()
        return Credentials(session, "cookie")
    raise NotAuthenticatedError("authentication required")


CredentialsDep = Annotated[Credentials, Depends(get_credentials)]


def authorize(request: Request, uow: RequestUnitOfWork, credentials: Credentials
              ) -> Principal:
    """The signed-in user: the session's row (one statement: signed out, revoked, expired
    or an inactive user are refused) and the session's cached ACL grants."""
    ctx = web_context(request)
    session, key = credentials.session, credentials.session.id_hash
    check_session(uow.open(), session, credentials.via)
    grants = ctx.grants.get(key)
    if grants is None:
        grants = load_grants(uow.connection, session.username)
        ctx.grants.put(key, grants)
    return Principal(session.username, grants, credentials.via, session.csrf, key)


@contextmanager
def signed_in(request: Request, credentials: Credentials
              ) -> Iterator[tuple[RequestUnitOfWork, Principal]]:
    """The route's one unit of work and who is asking, checked on that unit's connection
    (the session check and the route's work share one connection and transaction)."""
    with request_unit(request) as uow:
        yield uow, authorize(request, uow, credentials)


def get_principal(request: Request, credentials: CredentialsDep) -> Principal:
    """For routes without database work of their own: the check on a short unit."""
    uow = RequestUnitOfWork(web_context(request).engines.read)
    try:
        return authorize(request, uow, credentials)
    finally:
        uow.close()


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def client_address(request: Request) -> str:
    """The peer address (a trusted proxy's forwarded one, see ``middleware.py``)."""
    return request.client.host if request.client else "unknown"


def sign_in(request: Request, uow: RequestUnitOfWork, username: str, password: str) -> str:
    """Rate-limited sign-in (per client address and per username); the canonical name."""
    ctx = web_context(request)
    address = client_address(request)
    if not (ctx.login_limiter.hit("ip:" + address)
            and ctx.login_limiter.hit("user:" + username.lower())):
        raise TooManyAttemptsError("too many sign-in attempts; wait a few minutes")
    try:
        return services.authenticate(uow.factory(), username, password)
    except AuthenticationError as exc:
        log.info("sign-in refused for %r from %s: %s", username, address, exc.reason)
        raise
