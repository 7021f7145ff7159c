"""The recall room on the web: a page listing recalls with a form to open one, a page per
recall (patients as cards, the lot's stock, messages, audit trail), the call list as CSV,
each patient's printable letter, and the JSON API the page's script posts to.

For users OpenEMR lets manage recalls (``inventory/purchases`` or ``admin/drugs``). The
routes call :mod:`aesthetic_inventory.recall.service`; they hold no SQL. Who is signed
in comes from the application's own dependency, wired by :func:`include_recall_routes`
(this module does not import the application module, so there is no import cycle).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..recall import documents, service
from ..recall.service import RecallView
from ..reports.service import parse_product
from .context import site_of
from .services import ForbiddenError, NotAuthenticatedError, NotFoundError

API = "/api/v1/recalls"
RecallId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def current_principal() -> Any:
    """The signed-in user; replaced by the application's dependency when the routes
    are included (see :func:`include_recall_routes`)."""
    raise NotAuthenticatedError("authentication required")


Principal = Annotated[Any, Depends(current_principal)]
router = APIRouter()


class RecallOpen(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lot: str = Field(min_length=1, max_length=20, description="lot number to recall")
    product: str | None = Field(default=None, max_length=255,
                                description="only this product (id or exact name)")
    reason: str = Field(min_length=1, max_length=1000, description="why, in one line")


class RecallClose(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=1000)


def _allowed(principal: Any) -> str:
    if not principal.grants.manage_recalls:
        raise ForbiddenError("Access Denied")
    return str(principal.username)


def _uow(request: Request) -> Any:
    return site_of(request).app.unit_of_work  # the database of the session's site


def _page(request: Request, name: str, **values: Any) -> HTMLResponse:
    ctx = request.app.state.ctx
    return HTMLResponse(ctx.templates.get_template(name).render(
        root=ctx.config.root_path, **values))


def _view(request: Request, recall_id: int, user: str) -> RecallView:
    try:
        return service.show_recall(_uow(request), recall_id, user=user)
    except service.RecallInputError as exc:
        raise NotFoundError(str(exc)) from None


def view_json(view: RecallView) -> dict[str, Any]:
    """A recall as the API returns it."""
    r = view.recall
    return {
        "id": r.id, "lotNumber": r.lot_number, "productId": r.drug_id, "reason": r.reason,
        "status": r.status, "openedBy": r.opened_by, "openedAt": r.opened_at.isoformat(),
        "closedBy": r.closed_by,
        "closedAt": r.closed_at.isoformat() if r.closed_at else None,
        "quarantineWarehouse": r.quarantine_warehouse,
        "patients": [{"pid": p.pid, "name": p.name,
                      "dob": p.dob.isoformat() if p.dob else None, "phone": p.phone,
                      "email": p.email, "units": p.units, "providers": list(p.providers),
                      "visits": len(p.visits)} for p in view.patients],
        "lots": [{"inventoryId": lot.inventory_id, "product": lot.product,
                  "warehouse": lot.warehouse_id, "onHand": lot.on_hand}
                 for lot in view.lots if not lot.destroyed],
        "messagedProviders": sorted(view.notices),
    }


# --- API --------------------------------------------------------------------------------


@router.post(API, tags=["recalls"],
             summary="Open a recall: quarantine the lot, message providers (idempotent)")
def open_recall(body: RecallOpen, request: Request, principal: Principal) -> dict[str, Any]:
    user = _allowed(principal)
    result = service.open_recall(_uow(request), body.lot, reason=body.reason, user=user,
                                 product=parse_product(body.product))
    view = _view(request, result.recall.id, user)
    return {**view_json(view), "created": result.created,
            "quarantinedUnits": sum(m.quantity for m in result.moves)}


@router.get(API, tags=["recalls"], summary="Every recall, newest first")
def list_recalls(request: Request, principal: Principal) -> dict[str, Any]:
    user = _allowed(principal)
    return {"recalls": [{"id": r.id, "lotNumber": r.lot_number, "status": r.status,
                         "reason": r.reason, "openedAt": r.opened_at.isoformat()}
                        for r in service.list_recalls(_uow(request), user=user)]}


@router.get(API + "/{recall_id}", tags=["recalls"], summary="One recall with its patients")
def get_recall(recall_id: RecallId, request: Request, principal: Principal) -> dict[str, Any]:
    return view_json(_view(request, recall_id, _allowed(principal)))


@router.post(API + "/{recall_id}/close", tags=["recalls"],
             summary="Close a recall (the stock stays in quarantine)")
def close_recall(recall_id: RecallId, body: RecallClose, request: Request,
                 principal: Principal) -> dict[str, Any]:
    user = _allowed(principal)
    _view(request, recall_id, user)  # 404 for an unknown recall
    service.close_recall(_uow(request), recall_id, user=user, note=body.note)
    return view_json(_view(request, recall_id, user))


# --- pages ------------------------------------------------------------------------------


@router.get("/recalls", include_in_schema=False)
def recalls_page(request: Request, principal: Principal) -> Response:
    user = _allowed(principal)
    return _page(request, "recall.html.j2", principal=principal, view=None,
                 recalls=service.list_recalls(_uow(request), user=user))


@router.get("/recalls/{recall_id}", include_in_schema=False)
def recall_page(recall_id: RecallId, request: Request, principal: Principal) -> Response:
    view = _view(request, recall_id, _allowed(principal))
    return _page(request, "recall.html.j2", principal=principal, view=view, recalls=None)


@router.get("/recalls/{recall_id}/call-list.csv", include_in_schema=False)
def call_list(recall_id: RecallId, request: Request, principal: Principal) -> Response:
    view = _view(request, recall_id, _allowed(principal))
    return Response(documents.call_list_csv(view.patients), media_type="text/csv",
                    headers={"Content-Disposition":
                             f'attachment; filename="recall-{recall_id}-call-list.csv"'})


@router.get("/recalls/{recall_id}/letters/{pid}", include_in_schema=False)
def letter(recall_id: RecallId, pid: RecallId, request: Request,
           principal: Principal) -> Response:
    view = _view(request, recall_id, _allowed(principal))
    patient = next((p for p in view.patients if p.pid == pid), None)
    if patient is None:
        raise NotFoundError(f"patient {pid} did not receive lot {view.recall.lot_number}")
    app = site_of(request).app
    template = documents.letter_template(app.template_environment,
                                         app.settings.get("recall_letter_template"))
    html = documents.letter_html(template, view.recall, patient, view.clinic)
    # The letter is self-contained (inline print styles, no script).
    return HTMLResponse(html, headers={"Content-Security-Policy":
                                       "default-src 'none'; style-src 'unsafe-inline'"})


def include_recall_routes(api: FastAPI, principal_dependency: Any) -> None:
    """Add the recall routes to ``api``, signed in through ``principal_dependency``."""
    api.include_router(router)
    api.dependency_overrides[current_principal] = principal_dependency
