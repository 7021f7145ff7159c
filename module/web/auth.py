"""Who is asking: the request's unit of work, sign-in, and the signed-in principal.

Every authenticated request costs one statement for its session (``web/sessions.py``:
revoked, expired, or an inactive user are refused) on the request's one connection;
the ACL grants are read once per session and reused for ``web_grants_cache_seconds``.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator
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


def request_unit(request: Request) -> Iterator[RequestUnitOfWork]:
    """The request's one unit of work (autocommit reads for GET/HEAD), closed at its end."""
    engines = web_context(request).engines
    safe = request.method in ("GET", "HEAD")
    uow = RequestUnitOfWork(engines.read if safe else engines.write)
    try:
        yield uow
    finally:
        uow.close()


UowDep = Annotated[RequestUnitOfWork, Depends(request_unit)]


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two tokens."""
    return hmac.compare_digest(a.encode(), b.encode())


def get_principal(
    request: Request,
    uow: UowDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """Authenticate by bearer token or session cookie; cookie writes need the CSRF header."""
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
    check_session(uow.open(), session, via)
    key = session.id_hash
    grants = ctx.grants.get(key)
    if grants is None:
        grants = load_grants(uow.connection, session.username)
        ctx.grants.put(key, grants)
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
