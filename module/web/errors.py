"""The web app's one error handler: every error leaves as seed 003's shape
(``timestamp``, ``status``, ``error``, ``message``, ``path``), JSON under the API and a
page elsewhere; the status and the message come from the error's class
(:mod:`aesthetic_inventory.errors`), never from its text.
"""

from __future__ import annotations

import logging
from datetime import datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..db import is_connection_error, is_lock_conflict
from ..errors import (
    AestheticInventoryError,
    DatabaseUnavailableError,
    InvalidInputError,
    LockConflictError,
)
from .context import web_context

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def error_body(status: int, message: str, path: str) -> dict[str, Any]:
    """Seed 003's error document."""
    return {
        "timestamp": datetime.now().isoformat(timespec="seconds"),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
    }


def as_module_error(exc: BaseException) -> AestheticInventoryError | None:
    """Our error for ``exc``: itself, or what a database error means to a client."""
    if isinstance(exc, AestheticInventoryError):
        return exc
    if isinstance(exc, DBAPIError) and is_lock_conflict(exc):
        return LockConflictError("the visit is being changed by someone else; try again")
    if isinstance(exc, DBAPIError) and is_connection_error(exc):
        return DatabaseUnavailableError("the database is unreachable")
    return None


def wants_html(request: Request) -> bool:
    """Pages get pages, the API gets JSON."""
    return not request.url.path.startswith(API_PREFIX)


def error_response(request: Request, status: int, message: str, *,
                   headers: dict[str, str] | None = None,
                   fields: dict[str, object] | None = None) -> Response:
    """The response for an error: JSON, a page, or (a page's 401) the sign-in page.
    ``headers`` and ``fields`` come from the error's class (``Retry-After``, ``confirm``)."""
    path = request.url.path
    ctx = web_context(request)
    if wants_html(request):
        if status == 401:
            # ?site=B with a session of site A (or none): sign in to B
            site = request.query_params.get("site")
            query = "?" + urlencode({"site": site[:64]}) if site else ""
            return RedirectResponse(ctx.config.root_path + "/login" + query, status_code=303)
        html = ctx.templates.get_template("error.html.j2").render(
            error=error_body(status, message, path), root=ctx.config.root_path,
            principal=None,
        )
        return HTMLResponse(html, status_code=status, headers=headers)
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse({**error_body(status, message, path), **(fields or {})},
                        status_code=status, headers=headers)


def validation_message(exc: RequestValidationError) -> str:
    """The first problem of a request that failed validation, in one line."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "path", "query"))
    text = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {text}{more}" if where else f"{text}{more}"


def install_error_handlers(api: FastAPI) -> None:
    """Register the one handler (plus FastAPI's own validation and routing errors)."""

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, InvalidInputError.http_status, validation_message(exc))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404:
            message = f"No such resource: {request.url.path}"
        return error_response(request, exc.status_code, message)

    async def _ours(request: Request, exc: Exception) -> Response:
        error = as_module_error(exc)
        status = error.http_status if error is not None else 500
        message = error.http_message() if error is not None else \
            "unexpected error; see the server log"
        if status >= 500:
            log.error("request %s %s failed: %s", request.method, request.url.path,
                      type(exc).__name__, exc_info=exc)
        if error is None:
            return error_response(request, status, message)
        return error_response(request, status, message, headers=error.http_headers(),
                              fields=error.http_fields())

    # Our errors and database errors are answered inside the app; anything else reaches
    # the same handler as the outermost one (same shape, traceback in the log).
    for kind in (AestheticInventoryError, DBAPIError, Exception):
        api.add_exception_handler(kind, _ours)
