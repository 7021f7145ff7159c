"""Pure ASGI layers around the application (cheaper than ``@app.middleware``):

* :class:`ProxyHeaders`: the client's address and scheme from ``X-Forwarded-For`` /
  ``X-Forwarded-Proto`` only when the peer is a configured trusted proxy
  (``web_trusted_proxies``, none by default: a local process cannot pose as many
  clients to dodge the per-address sign-in limit).
* :class:`BodyLimit`: a request body over ``web_max_body_bytes`` is refused with 413
  before anything reads it (so before authentication).
* :class:`SecurityHeaders`: nosniff, referrer policy, CSP with ``frame-ancestors`` and
  the matching ``X-Frame-Options``, HSTS over TLS, ``no-store`` on the API.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime
from http import HTTPStatus
from typing import Any

from starlette.exceptions import HTTPException

from ..errors import RequestTooLargeError
from .config import WebConfig

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class ProxyHeaders:
    """Believe forwarding headers only from trusted proxies."""

    def __init__(self, app: ASGIApp, config: WebConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.config.trusted_proxies:
            peer = scope.get("client")
            if peer and self.config.is_trusted_proxy(peer[0]):
                self._rewrite(scope)
        await self.app(scope, receive, send)

    def _rewrite(self, scope: Scope) -> None:
        forwarded = _header(scope, b"x-forwarded-for")
        if forwarded:
            hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
            # The nearest hop that is not one of our proxies is the client; anything
            # left of it was written by the client and proves nothing.
            for hop in reversed(hops):
                if not self.config.is_trusted_proxy(hop):
                    scope["client"] = (hop, 0)
                    break
        proto = (_header(scope, b"x-forwarded-proto") or "").strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto


class BodyLimit:
    """Refuse bodies over the limit: by ``Content-Length`` at once, else while reading."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and (not declared.strip().isdigit()
                                     or int(declared) > self.limit):
            await _too_large(scope, send, self.limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                # Starlette's HTTP error: FastAPI passes it through its body parsing
                # (anything else there becomes a 400), the error handler answers 413.
                raise HTTPException(RequestTooLargeError.http_status,
                                    f"request body over {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


async def _too_large(scope: Scope, send: Send, limit: int) -> None:
    status = RequestTooLargeError.http_status
    body = json.dumps({
        "timestamp": datetime.now().isoformat(timespec="seconds"), "status": status,
        "error": HTTPStatus(status).phrase, "message": f"request body over {limit} bytes",
        "path": scope.get("path", ""),
    }).encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Headers every response carries (a route's own CSP wins)."""

    def __init__(self, app: ASGIApp, config: WebConfig, api_prefix: str) -> None:
        self.app = app
        self.api_prefix = api_prefix
        ancestors = config.frame_ancestors.strip()
        self.common: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]
        # X-Frame-Options for browsers without CSP level 2; it can only say these two.
        frame = {"'self'": b"SAMEORIGIN", "'none'": b"DENY"}.get(ancestors)
        if frame:
            self.common.append((b"x-frame-options", frame))
        self.csp = ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
                    f"script-src 'self'; frame-ancestors {ancestors}").encode()
        self.hsts = (f"max-age={config.hsts_seconds}".encode()
                     if config.hsts_seconds > 0 else None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(self.common)
        if self.hsts and scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", self.hsts))
        api = str(scope.get("path", "")).startswith(self.api_prefix)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", self.csp))
                if api and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
