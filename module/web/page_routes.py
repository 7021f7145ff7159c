"""The pages: sign-in and sign-out, arrival from OpenEMR's menu, the review page,
report pages, static files and the health check."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..errors import (
    AuthenticationError,
    CsrfError,
    InvalidInputError,
    InvalidTokenError,
    NotFoundError,
    TooManyAttemptsError,
)
from ..resources import templates_dir
from . import services
from .api_routes import VARIANCE_REASONS, require
from .auth import (
    SESSION_COOKIE,
    CredentialsDep,
    PrincipalDep,
    grants_key,
    on_site,
    request_unit,
    same,
    sign_in,
    signed_in,
)
from .context import DEFAULT_SITE, WebContext, WebSite, site_of, web_context
from .reports import REPORT_PAGES, report_page
from .request_uow import RequestUnitOfWork
from .sessions import end_session, open_session, use_launch_token
from .tokens import verify_launch_token

LOGIN_CSRF_COOKIE = "ai_login_csrf"

page_router = APIRouter(include_in_schema=False)


def _render(ctx: WebContext, name: str, **values: Any) -> str:
    return ctx.templates.get_template(name).render(root=ctx.config.root_path, **values)


def _path(ctx: WebContext, path: str) -> str:
    return (ctx.config.root_path or "") + path


def _set_cookie(ctx: WebContext, response: Response, name: str, value: str, max_age: int
                ) -> None:
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                        secure=ctx.config.cookie_secure, path=_path(ctx, "/"))


def _start_session(ctx: WebContext, uow: RequestUnitOfWork, username: str, site: WebSite
                   ) -> Response:
    value, _session = open_session(uow, ctx.signer, username, "cookie", site.name)
    response = RedirectResponse(_path(ctx, "/"), status_code=303)
    _set_cookie(ctx, response, SESSION_COOKIE, value, ctx.signer.session_seconds)
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=_path(ctx, "/"))
    return response


def _form_page(ctx: WebContext, template: str, status: int = 200, **values: Any) -> Response:
    """A page with a form guarded by a fresh login CSRF token (double-submit cookie)."""
    token = ctx.signer.new_login_csrf()
    response = HTMLResponse(_render(ctx, template, csrf=token, principal=None, **values),
                            status_code=status)
    _set_cookie(ctx, response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


def _check_form_csrf(ctx: WebContext, request: Request, field: str) -> None:
    try:
        ctx.signer.check_login_csrf(request.cookies.get(LOGIN_CSRF_COOKIE), field)
    except InvalidTokenError:
        raise CsrfError() from None


SiteName = Annotated[str, Query(max_length=64)]


def _login_form(ctx: WebContext, status: int = 200, *, site: str, error: str | None = None,
                username: str = "") -> Response:
    """The sign-in form; with several sites it asks which one (``?site=`` fills it in,
    as OpenEMR's login page takes it)."""
    return _form_page(ctx, "login.html.j2", status, error=error, username=username,
                      site=site, ask_site=ctx.sites.several)


@page_router.get("/login")
def login_page(request: Request, site: SiteName = "") -> Response:
    ctx = web_context(request)
    if site or not ctx.sites.several:
        site = ctx.sites.get(site).name  # an unknown ?site= is a 404 page here
    elif DEFAULT_SITE in ctx.sites.names:
        site = DEFAULT_SITE  # OpenEMR's login without ?site= is the default site's
    return _login_form(ctx, site=site)


@page_router.post("/login")
async def login_submit(
    request: Request,
    username: Annotated[str, Form(max_length=255)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form(max_length=512)] = "",
    site: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    ctx = web_context(request)
    _check_form_csrf(ctx, request, csrf_token)
    try:
        chosen = ctx.sites.get(site)
    except InvalidInputError as exc:  # an unknown site: the form again, with the reason
        return _login_form(ctx, exc.http_status, site=site, error=str(exc), username=username)

    def work() -> Response:
        with request_unit(request, chosen) as uow:
            try:
                canonical = sign_in(request, uow, username, password, chosen)
            except (AuthenticationError, TooManyAttemptsError) as exc:
                return _login_form(ctx, exc.http_status, site=chosen.name, error=str(exc),
                                   username=username)
            return _start_session(ctx, uow, canonical, chosen)

    return await on_site(chosen, work)


@page_router.post("/logout")
async def logout(request: Request,
           csrf_token: Annotated[str, Form(max_length=512)] = "") -> Response:
    # A form post: the CSRF token travels in the form, not in a header.
    ctx = web_context(request)
    session = ctx.signer.read_session(request.cookies.get(SESSION_COOKIE))
    if not csrf_token or not same(csrf_token, session.csrf):
        raise CsrfError()
    site = ctx.sites.get(session.site)

    def work() -> None:
        with request_unit(request, site) as uow:
            end_session(uow, session)  # the cookie (and any copy of it) stops working now

    await on_site(site, work)
    ctx.grants.drop(grants_key(site, session))
    again = f"/login?site={site.name}" if ctx.sites.several else "/login"
    response = RedirectResponse(_path(ctx, again), status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=_path(ctx, "/"))
    return response


@page_router.get("/launch")
def launch(request: Request, token: Annotated[str, Query(max_length=2048)] = "") -> Response:
    """Arrival from OpenEMR's menu: a confirmation page, never a sign-in (a cross-site
    link must not sign a browser in as someone else); its form POSTs the token."""
    ctx = web_context(request)
    launch_token = verify_launch_token(ctx.config.launch_secret, token,
                                       max_age=ctx.config.launch_max_age)
    site = ctx.sites.get(launch_token.site)  # an unknown site is refused here already
    return _form_page(ctx, "launch.html.j2", username=launch_token.username, token=token,
                      site=site.name if ctx.sites.several else None)


@page_router.post("/launch")
async def launch_submit(
    request: Request,
    token: Annotated[str, Form(max_length=2048)] = "",
    csrf_token: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """The confirmed launch: the token is spent (single use) and the session starts."""
    ctx = web_context(request)
    _check_form_csrf(ctx, request, csrf_token)
    launch_token = verify_launch_token(ctx.config.launch_secret, token,
                                       max_age=ctx.config.launch_max_age)
    # OpenEMR's $_SESSION['site_id'] (none from a module older than multisite: the
    # default site): its nonces, its user and its session are in that site's database
    site = ctx.sites.get(launch_token.site)

    def work() -> Response:
        with request_unit(request, site) as uow:
            use_launch_token(uow, launch_token, ctx.config.launch_max_age + 60)
            services.current_grants(uow.factory(), launch_token.username)  # refuses inactive
            return _start_session(ctx, uow, launch_token.username, site)

    return await on_site(site, work)


@page_router.get("/")
def review_page(request: Request, credentials: CredentialsDep,
                day: Annotated[date | None, Query(alias="date")] = None) -> Response:
    ctx = web_context(request)
    when = day or date.today()
    with signed_in(request, credentials) as (uow, principal):
        require(principal.grants.view_materials)
        visits = services.visits_on(uow.factory(), when)
    return HTMLResponse(_render(ctx, "review.html.j2", principal=principal, visits=visits,
                                day=when, reasons=VARIANCE_REASONS))


@page_router.get("/reports/{name}")
def report(name: str, request: Request, principal: PrincipalDep) -> Response:
    require(principal.grants.view_reports)
    if name not in REPORT_PAGES:
        raise NotFoundError(f"No such report: {name}")
    ctx = web_context(request)
    # Reports open their own read-only snapshot transaction: the transactional engine.
    html = report_page(site_of(request).engines.write, name, today=date.today(),
                       user=principal.username)
    # the report pages are shared with the CLI and have no way back of their own
    back = f'<p><a href="{ctx.config.root_path}/">&larr; Back to the visits</a></p>'
    html = html.replace("<body>", "<body>" + back, 1)
    # The reports' pages are self-contained: inline CSS and SVG, no script.
    return HTMLResponse(html, headers={"Content-Security-Policy":
                                       "default-src 'none'; style-src 'unsafe-inline'; "
                                       "img-src data:; frame-ancestors "
                                       + ctx.config.frame_ancestors})


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
