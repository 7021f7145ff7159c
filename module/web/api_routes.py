"""The JSON API under ``/api/v1`` (seed 003 8.7 / 8.8 and the catalog and reports)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from ..errors import ForbiddenError, InvalidInputError
from . import services
from .auth import CredentialsDep, PrincipalDep, on_site, request_unit, sign_in, signed_in
from .context import site_of, web_context
from .errors import API_PREFIX
from .reports import recall_json, stock_json
from .sessions import open_session

VARIANCE_REASONS = ("ADDITIONAL_USAGE", "LESS_THAN_PLANNED", "WASTAGE",
                    "PROCEDURE_COMPLEXITY", "OTHER")

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
    site: str | None = Field(default=None, min_length=1, max_length=64,
                             description="OpenEMR site id (multisite; default: the "
                             "only site, else 'default'); the token works on it only")


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
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 429)
}

Pid = Annotated[int, Path(ge=1, le=2**31 - 1)]
Encounter = Annotated[int, Path(ge=1, le=2**31 - 1)]

api_router = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)


def require(allowed: bool) -> None:
    """Refuse what OpenEMR's ACL does not allow (the client learns only that)."""
    if not allowed:
        raise ForbiddenError("Access Denied")


@api_router.post("/auth/token", response_model=TokenResponse, tags=["auth"],
                 summary="Exchange an OpenEMR username and password for a bearer token")
async def issue_token(body: TokenRequest, request: Request) -> TokenResponse:
    ctx = web_context(request)
    site = ctx.sites.get(body.site)

    def work() -> str:
        with request_unit(request, site) as uow:
            username = sign_in(request, uow, body.username, body.password, site)
            return open_session(uow, ctx.signer, username, "token", site.name)[0]

    token = await on_site(site, work)
    return TokenResponse(accessToken=token, expiresIn=ctx.signer.token_seconds)


@api_router.get("/me", tags=["auth"], summary="Who is signed in and what OpenEMR allows them")
def me(principal: PrincipalDep) -> dict[str, Any]:
    g = principal.grants
    return {"username": principal.username, "site": principal.site, "permissions": {
        "viewMaterials": g.view_materials, "updateMaterials": g.update_materials,
        "viewCosts": g.view_costs, "viewReports": g.view_reports}}


@api_router.get("/visits", tags=["visits"], summary="Visits of a day that bill mapped procedures")
def list_visits(request: Request, credentials: CredentialsDep,
                day: Annotated[date | None, Query(alias="date")] = None) -> dict[str, Any]:
    when = day or date.today()
    with signed_in(request, credentials) as (uow, principal):
        require(principal.grants.view_materials)
        visits = services.visits_on(uow.factory(), when)
    for visit in visits:
        visit["date"] = visit["date"].isoformat() if visit["date"] else None
    return {"date": when.isoformat(), "visits": visits}


@api_router.get("/visits/{pid}/{encounter}/materials", tags=["materials"],
                summary="Seed 003 API 8.7: planned vs actual materials of a visit")
def get_materials(pid: Pid, encounter: Encounter, request: Request,
                  credentials: CredentialsDep) -> dict[str, Any]:
    with signed_in(request, credentials) as (uow, principal):
        require(principal.grants.view_materials)
        return web_context(request).materials.show(
            pid, encounter, username=principal.username,
            show_costs=principal.grants.view_costs, uow_factory=uow.factory())


@api_router.put("/visits/{pid}/{encounter}/materials", tags=["materials"],
                summary="Seed 003 API 8.8: record actual quantities (all or nothing)")
def put_materials(pid: Pid, encounter: Encounter, body: MaterialsUpdate, request: Request,
                  credentials: CredentialsDep) -> dict[str, Any]:
    for i, item in enumerate(body.materials):
        if item.usageId is None and item.code is None:
            raise InvalidInputError(f"materials.{i}: give usageId or code")
    materials = [item.model_dump() for item in body.materials]
    with signed_in(request, credentials) as (uow, principal):
        require(principal.grants.update_materials)
        return web_context(request).materials.record(
            pid, encounter, username=principal.username, materials=materials,
            confirm=body.confirm, uow_factory=uow.factory())


@api_router.get("/procedures/{code_type}/{code}/consumables", tags=["catalog"],
                summary="Service BOM of a procedure code (procedure_products)")
def get_consumables(
    code_type: Annotated[str, Path(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9_-]+$")],
    code: Annotated[str, Path(min_length=1, max_length=31, pattern=r"^[A-Za-z0-9_.-]+$")],
    request: Request, credentials: CredentialsDep,
) -> dict[str, Any]:
    with signed_in(request, credentials) as (uow, principal):
        require(principal.grants.view_materials)
        return services.consumables(uow.factory(), code_type, code,
                                    show_costs=principal.grants.view_costs,
                                    today=date.today())


@api_router.get("/products/{product_id}/lots", tags=["catalog"],
                summary="Usable lots of a product (not destroyed, not expired, in stock)")
def get_lots(product_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request,
             credentials: CredentialsDep) -> dict[str, Any]:
    with signed_in(request, credentials) as (uow, principal):
        require(principal.grants.view_materials)
        return services.usable_lots(uow.factory(), product_id, today=date.today(),
                                    username=principal.username)


@api_router.get("/stock", tags=["reports"],
                summary="Stock per product (usable, expired, reorder point, status, cover)")
def get_stock(request: Request, principal: PrincipalDep) -> dict[str, Any]:
    require(principal.grants.view_reports)
    return stock_json(site_of(request).engines.write, today=date.today())


@api_router.get("/lots/{lot}/recall", tags=["reports"],
                summary="Lot recall: patients who received the lot, remaining stock")
def get_recall(lot: Annotated[str, Path(min_length=1, max_length=20)], request: Request,
               principal: PrincipalDep) -> dict[str, Any]:
    require(principal.grants.view_reports)
    return recall_json(site_of(request).engines.write, lot, today=date.today())
