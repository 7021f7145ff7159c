"""The ASGI application: FastAPI routes over the module's services.

Built by :func:`create_web_app` from the composition root, so it shares the settings,
the engine and the unit of work with the CLI and the background service. Every error
leaves as seed 003's shape (``timestamp``, ``status``, ``error``, ``message``, ``path``);
nothing below reaches the client as a traceback or SQL.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from http import HTTPStatus
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Form, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..acl import Grants
from ..bootstrap import App
from ..db import is_lock_conflict
from ..errors import AestheticInventoryError, InvalidInputError, UnknownVisitError
from ..resources import templates_dir
from . import services
from .config import WebConfig
from .materials import MaterialsGateway, UsageMaterials
from .ratelimit import RateLimiter
from .reports import REPORT_PAGES, recall_json, report_page, stock_json
from .services import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotAuthenticatedError,
    NotFoundError,
)
from .tokens import InvalidTokenError, Signer, verify_launch_token

log = logging.getLogger(__name__)

SESSION_COOKIE = "ai_session"
LOGIN_CSRF_COOKIE = "ai_login_csrf"
API_PREFIX = "/api/v1"
VARIANCE_REASONS = ("ADDITIONAL_USAGE", "LESS_THAN_PLANNED", "WASTAGE",
                    "PROCEDURE_COMPLEXITY", "OTHER")


class TooManyAttemptsError(AestheticInventoryError):
    """Sign-in attempts over the rate limit."""


# --- request and response models (they make the OpenAPI document) ----------------------


class ErrorBody(BaseModel):
    timestamp: str
    status: int
    error: str
    message: str
    path: str


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    accessToken: str
    tokenType: Literal["Bearer"] = "Bearer"
    expiresIn: int


class MaterialUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    usageId: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                description="procedure_products mapping id (from GET)")
    code: str | None = Field(default=None, min_length=3, max_length=40,
                             description="billed code, e.g. CPT4:64612")
    productId: int | None = Field(default=None, ge=1, le=2**31 - 1)
    actualQuantity: Decimal = Field(ge=0, le=100000, max_digits=12, decimal_places=3)
    varianceReason: Literal[VARIANCE_REASONS] | None = None  # type: ignore[valid-type]
    notes: str | None = Field(default=None, max_length=1000)
    lot: str | None = Field(default=None, max_length=20,
                            description="lot number actually used (optional)")


class MaterialsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    materials: list[MaterialUpdate] = Field(min_length=1, max_length=100)
    confirm: bool = Field(default=False, description="record implausible actuals (409 asks)")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 429)
}

# --- the request context ----------------------------------------------------------------


@dataclass
class WebContext:
    """What the routes share: the composition root and the web adapters."""

    app: App
    config: WebConfig
    signer: Signer
    login_limiter: RateLimiter
    materials: MaterialsGateway
    templates: Environment = field(repr=False)

    def uow(self):  # type: ignore[no-untyped-def]
        return self.app.unit_of_work()


@dataclass(frozen=True)
class Principal:
    """The signed-in user of one request and how they proved it."""

    username: str
    grants: Grants
    via: Literal["cookie", "token"]
    csrf: str = ""


def _ctx(request: Request) -> WebContext:
    return request.app.state.ctx  # type: ignore[no-any-return]


bearer_scheme = HTTPBearer(auto_error=False, description="token from POST /api/v1/auth/token")
cookie_scheme = APIKeyCookie(name=SESSION_COOKIE, auto_error=False,
                             description="session cookie set by the sign-in page")

_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def get_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """Authenticate by bearer token or session cookie; cookie writes need the CSRF header."""
    ctx = _ctx(request)
    if bearer is not None:
        username = ctx.signer.read_token(bearer.credentials)
        via: Literal["cookie", "token"] = "token"
        csrf = ""
    elif cookie:
        session = ctx.signer.read_session(cookie)
        username, via, csrf = session.username, "cookie", session.csrf
        if request.method in _UNSAFE:
            sent = request.headers.get("x-csrf-token", "")
            if not sent or not _same(sent, session.csrf):
                raise ForbiddenError("CSRF token missing or invalid")
    else:
        raise NotAuthenticatedError("authentication required")
    grants = services.current_grants(ctx.uow, username)
    return Principal(username, grants, via, csrf)


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


PrincipalDep = Annotated[Principal, Depends(get_principal)]
Pid = Annotated[int, Path(ge=1, le=2**31 - 1)]
Encounter = Annotated[int, Path(ge=1, le=2**31 - 1)]

# --- errors -----------------------------------------------------------------------------


def error_body(status: int, message: str, path: str) -> dict[str, Any]:
    """Seed 003's error document."""
    return {
        "timestamp": datetime.now().isoformat(timespec="seconds"),
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
    }


def _classify(exc: BaseException) -> tuple[int, str]:
    if isinstance(exc, AuthenticationError):
        return 401, str(exc)
    if isinstance(exc, NotAuthenticatedError | InvalidTokenError):
        return 401, "Authentication required"
    if isinstance(exc, ForbiddenError):
        return 403, "Access Denied" if "CSRF" not in str(exc) else str(exc)
    if isinstance(exc, TooManyAttemptsError):
        return 429, str(exc)
    if isinstance(exc, NotFoundError | UnknownVisitError):
        return 404, str(exc)
    if isinstance(exc, ConflictError):
        return 409, str(exc)
    if isinstance(exc, InvalidInputError):
        return 400, str(exc)
    if isinstance(exc, DBAPIError) and is_lock_conflict(exc):
        return 409, "the visit is being changed by someone else; try again"
    if isinstance(exc, AestheticInventoryError):
        # Operational failures (database down...) are the server's, not the client's.
        return 503, "service unavailable; see the server log"
    return 500, "unexpected error; see the server log"


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(API_PREFIX) and request.url.path != "/openapi.json"


def _error_response(request: Request, status: int, message: str) -> Response:
    path = request.url.path
    if _wants_html(request):
        if status == 401:
            return RedirectResponse(_ctx(request).config.root_path + "/login", status_code=303)
        html = _ctx(request).templates.get_template("error.html.j2").render(
            error=error_body(status, message, path), root=_ctx(request).config.root_path,
            principal=None,
        )
        return HTMLResponse(html, status_code=status)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(error_body(status, message, path), status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "path", "query"))
    text = str(first.get("msg", "invalid value"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {text}{more}" if where else f"{text}{more}"


def install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(request, 400, _validation_message(exc))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404:
            message = f"No such resource: {request.url.path}"
        return _error_response(request, exc.status_code, message)

    async def _classified(request: Request, exc: Exception) -> Response:
        status, message = _classify(exc)
        if status >= 500:
            log.error("request %s %s failed: %s", request.method, request.url.path,
                      type(exc).__name__, exc_info=exc)
        return _error_response(request, status, message)

    # Our errors and database errors are answered here; anything else reaches the
    # outermost handler, which answers the same shape and logs the traceback.
    api.add_exception_handler(AestheticInventoryError, _classified)
    api.add_exception_handler(DBAPIError, _classified)
    api.add_exception_handler(Exception, _classified)


# --- API routes -------------------------------------------------------------------------

api_router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)


def _client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in(ctx: WebContext, request: Request, username: str, password: str) -> str:
    """Rate-limited sign-in (per client address and per username)."""
    if not (ctx.login_limiter.hit("ip:" + _client_key(request))
            and ctx.login_limiter.hit("user:" + username.lower())):
        raise TooManyAttemptsError("too many sign-in attempts; wait a few minutes")
    try:
        return services.authenticate(ctx.uow, username, password)
    except AuthenticationError as exc:
        log.info("sign-in refused for %r from %s: %s", username, _client_key(request),
                 exc.reason)
        raise


@api_router.post("/auth/token", response_model=TokenResponse, tags=["auth"],
                 summary="Exchange an OpenEMR username and password for a bearer token")
def issue_token(body: TokenRequest, request: Request) -> TokenResponse:
    ctx = _ctx(request)
    username = sign_in(ctx, request, body.username, body.password)
    return TokenResponse(accessToken=ctx.signer.new_token(username),
                         expiresIn=ctx.signer.token_seconds)


@api_router.get("/me", tags=["auth"], summary="Who is signed in and what OpenEMR allows them")
def me(principal: PrincipalDep) -> dict[str, Any]:
    g = principal.grants
    return {"username": principal.username, "permissions": {
        "viewMaterials": g.view_materials, "updateMaterials": g.update_materials,
        "viewCosts": g.view_costs, "viewReports": g.view_reports}}


def _require(allowed: bool) -> None:
    if not allowed:
        raise ForbiddenError("Access Denied")


@api_router.get("/visits", tags=["visits"], summary="Visits of a day that bill mapped procedures")
def list_visits(request: Request, principal: PrincipalDep,
                day: Annotated[date | None, Query(alias="date")] = None) -> dict[str, Any]:
    _require(principal.grants.view_materials)
    when = day or date.today()
    visits = services.visits_on(_ctx(request).uow, when)
    for visit in visits:
        visit["date"] = visit["date"].isoformat() if visit["date"] else None
    return {"date": when.isoformat(), "visits": visits}


@api_router.get("/visits/{pid}/{encounter}/materials", tags=["materials"],
                summary="Seed 003 API 8.7: planned vs actual materials of a visit")
def get_materials(pid: Pid, encounter: Encounter, request: Request,
                  principal: PrincipalDep) -> dict[str, Any]:
    _require(principal.grants.view_materials)
    return _ctx(request).materials.show(pid, encounter, username=principal.username,
                                        show_costs=principal.grants.view_costs)


@api_router.put("/visits/{pid}/{encounter}/materials", tags=["materials"],
                summary="Seed 003 API 8.8: record actual quantities (all or nothing)")
def put_materials(pid: Pid, encounter: Encounter, body: MaterialsUpdate, request: Request,
                  principal: PrincipalDep) -> dict[str, Any]:
    _require(principal.grants.update_materials)
    for i, item in enumerate(body.materials):
        if item.usageId is None and item.code is None:
            raise InvalidInputError(f"materials.{i}: give usageId or code")
    materials = [item.model_dump() for item in body.materials]
    return _ctx(request).materials.record(pid, encounter, username=principal.username,
                                          materials=materials, confirm=body.confirm)


@api_router.get("/procedures/{code_type}/{code}/consumables", tags=["catalog"],
                summary="Service BOM of a procedure code (procedure_products)")
def get_consumables(
    code_type: Annotated[str, Path(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9_-]+$")],
    code: Annotated[str, Path(min_length=1, max_length=31, pattern=r"^[A-Za-z0-9_.-]+$")],
    request: Request, principal: PrincipalDep,
) -> dict[str, Any]:
    _require(principal.grants.view_materials)
    return services.consumables(_ctx(request).uow, code_type, code,
                                show_costs=principal.grants.view_costs, today=date.today())


@api_router.get("/products/{product_id}/lots", tags=["catalog"],
                summary="Usable lots of a product (not destroyed, not expired, in stock)")
def get_lots(product_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request,
             principal: PrincipalDep) -> dict[str, Any]:
    _require(principal.grants.view_materials)
    return services.usable_lots(_ctx(request).uow, product_id, today=date.today(),
                                username=principal.username)


@api_router.get("/stock", tags=["reports"],
                summary="Stock per product (usable, expired, reorder point, status, cover)")
def get_stock(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    _require(principal.grants.view_reports)
    return stock_json(_ctx(request).app.engine, today=date.today())


@api_router.get("/lots/{lot}/recall", tags=["reports"],
                summary="Lot recall: patients who received the lot, remaining stock")
def get_recall(lot: Annotated[str, Path(min_length=1, max_length=20)], request: Request,
               principal: PrincipalDep) -> dict[str, Any]:
    _require(principal.grants.view_reports)
    return recall_json(_ctx(request).app.engine, lot, today=date.today())


# --- pages ------------------------------------------------------------------------------

page_router = APIRouter(include_in_schema=False)


def _render(ctx: WebContext, name: str, **values: Any) -> str:
    return ctx.templates.get_template(name).render(root=ctx.config.root_path, **values)


def _set_cookie(ctx: WebContext, response: Response, name: str, value: str, max_age: int,
                path: str = "/") -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=ctx.config.cookie_secure, path=(ctx.config.root_path or "") + path)


def _start_session(ctx: WebContext, username: str, target: str) -> Response:
    value, _session = ctx.signer.new_session(username)
    response = RedirectResponse(target, status_code=303)
    _set_cookie(ctx, response, SESSION_COOKIE, value, ctx.signer.session_seconds)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=(ctx.config.root_path or "") + "/")
    return response


@page_router.get("/login")
def login_page(request: Request) -> Response:
    ctx = _ctx(request)
    token = ctx.signer.new_login_csrf()
    response = HTMLResponse(_render(ctx, "login.html.j2", csrf=token, error=None,
                                    principal=None))
    _set_cookie(ctx, response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


@page_router.post("/login")
def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    ctx = _ctx(request)
    try:
        ctx.signer.check_login_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), csrf_token)
    except InvalidTokenError:
        raise ForbiddenError("CSRF token missing or invalid") from None
    try:
        canonical = sign_in(ctx, request, username, password)
    except (AuthenticationError, TooManyAttemptsError) as exc:
        status = 429 if isinstance(exc, TooManyAttemptsError) else 401
        token = ctx.signer.new_login_csrf()
        response = HTMLResponse(
            _render(ctx, "login.html.j2", csrf=token, error=str(exc), principal=None,
                    username=username),
            status_code=status,
        )
        _set_cookie(ctx, response, LOGIN_CSRF_COOKIE, token, 3600)
        return response
    return _start_session(ctx, canonical, (ctx.config.root_path or "") + "/")


@page_router.post("/logout")
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=512)] = "") -> Response:
    # A form post: the CSRF token travels in the form, not in a header.
    ctx = _ctx(request)
    session = ctx.signer.read_session(request.cookies.get(SESSION_COOKIE))
    if not csrf_token or not _same(csrf_token, session.csrf):
        raise ForbiddenError("CSRF token missing or invalid")
    response = RedirectResponse((ctx.config.root_path or "") + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=(ctx.config.root_path or "") + "/")
    return response


@page_router.get("/launch")
def launch(request: Request, token: Annotated[str, Query(max_length=2048)] = "") -> Response:
    """Arrival from OpenEMR's menu: a short-lived HMAC token minted by the PHP module."""
    ctx = _ctx(request)
    username = verify_launch_token(ctx.config.launch_secret, token,
                                   max_age=ctx.config.launch_max_age)
    services.current_grants(ctx.uow, username)  # refuses inactive / unknown users
    return _start_session(ctx, username, (ctx.config.root_path or "") + "/")


@page_router.get("/")
def review_page(request: Request, principal: PrincipalDep,
                day: Annotated[date | None, Query(alias="date")] = None) -> Response:
    ctx = _ctx(request)
    _require(principal.grants.view_materials)
    when = day or date.today()
    visits = services.visits_on(ctx.uow, when)
    return HTMLResponse(_render(ctx, "review.html.j2", principal=principal, visits=visits,
                                day=when, reasons=VARIANCE_REASONS))


@page_router.get("/reports/{name}")
def report(name: str, request: Request, principal: PrincipalDep) -> Response:
    _require(principal.grants.view_reports)
    if name not in REPORT_PAGES:
        raise NotFoundError(f"No such report: {name}")
    html = report_page(_ctx(request).app.engine, name, today=date.today(),
                       user=principal.username)
    # The reports' pages are self-contained: inline CSS and SVG, no script.
    return HTMLResponse(html, headers={"Content-Security-Policy":
                                       "default-src 'none'; style-src 'unsafe-inline'; "
                                       "img-src data:; frame-ancestors "
                                       + _ctx(request).config.frame_ancestors})


@page_router.get("/static/{name}")
def static_file(name: Annotated[str, Path(pattern=r"^[a-z_]+\.(js|css)$")]) -> Response:
    path = templates_dir() / "web" / name
    if not path.is_file():
        raise NotFoundError(f"No such resource: /static/{name}")
    media = "text/javascript" if name.endswith(".js") else "text/css"
    return Response(path.read_text(encoding="utf-8"), media_type=media,
                    headers={"Cache-Control": "max-age=300"})


@page_router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


# --- the application --------------------------------------------------------------------


def create_web_app(app: App, *, materials: MaterialsGateway | None = None) -> FastAPI:
    """The ASGI application over the composition root ``app``."""
    config = WebConfig.from_settings(app.settings)
    ctx = WebContext(
        app=app,
        config=config,
        signer=Signer(config.secret, session_seconds=config.session_seconds,
                      token_seconds=config.token_seconds),
        login_limiter=RateLimiter(config.login_attempts, config.login_window_seconds),
        materials=materials or UsageMaterials(app),
        templates=Environment(
            loader=FileSystemLoader(str(templates_dir() / "web")),
            autoescape=select_autoescape(default=True, default_for_string=True),
        ),
    )
    @asynccontextmanager
    async def lifespan(_api: FastAPI) -> AsyncIterator[None]:
        import anyio.to_thread

        # Bound the sync routes' worker threads by the connection pool (see WebConfig).
        anyio.to_thread.current_default_thread_limiter().total_tokens = config.threads
        yield

    api = FastAPI(
        lifespan=lifespan,
        title="Aesthetic Inventory for OpenEMR",
        version="1",
        description="Planned vs actual materials of OpenEMR visits (seed 003), signed in as "
        "OpenEMR users; permissions from OpenEMR's ACL.",
        openapi_url=API_PREFIX + "/openapi.json",
        docs_url=None,
        redoc_url=None,
        root_path=config.root_path,
    )
    api.state.ctx = ctx
    install_error_handlers(api)

    @api.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            f"frame-ancestors {config.frame_ancestors}",
        )
        if request.url.path.startswith(API_PREFIX):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    api.include_router(api_router)
    api.include_router(page_router)
    return api


def openapi_document(app: App) -> dict[str, Any]:
    """The OpenAPI document the server serves (for the committed copy and tests)."""
    return create_web_app(app).openapi()
