"""Who is asking: the request's unit of work, sign-in, and the signed-in principal.

Every authenticated request costs one autocommit statement for its session
(``web/sessions.py``: revoked, expired, or an inactive user are refused); the ACL grants
are read once per session and reused for ``web_grants_cache_seconds``. The route then
runs its one unit of work (:func:`request_unit`).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
from contextlib import contextmanager
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


def get_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """Authenticate by bearer token or session cookie; cookie writes need the CSRF header.

    The session check (and, on a cache miss, the grants) is one autocommit read on a
    connection held only for this call (see :func:`request_unit` for why)."""
    ctx = web_context(request)
    via: Literal["cookie", "token"]
    session: Session
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
    key = session.id_hash
    uow = RequestUnitOfWork(ctx.engines.read)
    try:
        check_session(uow.open(), session, via)
        grants = ctx.grants.get(key)
        if grants is None:
            grants = load_grants(uow.connection, session.username)
            ctx.grants.put(key, grants)
    finally:
        uow.close()
    return Principal(session.username, grants, via, session.csrf, key)


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
