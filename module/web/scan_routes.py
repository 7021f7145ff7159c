"""GS1 scanning over HTTP (issue 19).

* ``POST {api}/visits/{pid}/{encounter}/materials/scan``: the scanned lot becomes the
  lot actually used for the visit's material of the scanned product (same role as the
  materials PUT: OpenEMR's update-materials grant);
* ``POST {api}/receipts/scan`` and ``POST {api}/counts/scan``: receive one scanned
  lot, count scanned packages (OpenEMR's ``inventory/purchases``);
* ``GET /receive`` and ``GET /count``: the receiving and count pages over those two
  (a keyboard-wedge scanner types into the scan field; ``scan.js`` posts the JSON).

Built by :func:`scan_router` from the app's principal dependency, so this file does not
import ``app.py`` (no import cycle) and ``app.py`` includes it with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..scanning import service as scanning
from ..unit_of_work import retry_on_lock_conflict
from .context import site_of
from .materials import record_json
from .services import ForbiddenError

Pid = Annotated[int, Path(ge=1, le=2**31 - 1)]
Encounter = Annotated[int, Path(ge=1, le=2**31 - 1)]
ScanText = Annotated[str, Field(min_length=1, max_length=512)]


class ScanRequest(BaseModel):
    """What a keyboard-wedge scanner (or a person) typed into the scan field."""

    model_config = ConfigDict(extra="forbid")
    scan: ScanText


class ReceiveScanRequest(BaseModel):
    """One scanned lot received: the barcode gives product, lot and expiry."""

    model_config = ConfigDict(extra="forbid")
    scan: ScanText
    packages: int | None = Field(default=None, ge=1, le=100_000)
    quantity: int | None = Field(default=None, ge=1, le=10_000_000)
    unitCost: Decimal = Field(ge=0, le=10_000_000, max_digits=14, decimal_places=4)
    warehouse: str = Field(default="", max_length=31)
    supplier: str = Field(default="", max_length=255)
    invoice: str = Field(default="", max_length=255)
    expires: date | None = None
    dryRun: bool = False


class CountScanRequest(BaseModel):
    """A stock take of package scans (each scan = one package of its lot)."""

    model_config = ConfigDict(extra="forbid")
    scans: list[ScanText] = Field(min_length=1, max_length=2000)
    warehouse: str = Field(default="", max_length=31)
    dryRun: bool = True


def _receipt_json(result: Any) -> dict[str, Any]:
    x = result.lines[0]
    return {"message": f"{'would receive' if result.dry_run else 'received'} {x.quantity} "
                       f"unit(s) of {x.product} lot {x.lot_number} "
                       f"(expires {x.expires.isoformat()})",
            "deliveryId": result.delivery_id, "dryRun": result.dry_run,
            "productId": x.drug_id, "product": x.product, "lotNumber": x.lot_number,
            "inventoryId": None if result.dry_run else x.inventory_id,
            "newLot": x.new_lot, "warehouse": x.warehouse, "expires": x.expires.isoformat(),
            "quantity": x.quantity, "unitCost": str(x.unit_cost),
            "totalCost": str(result.total_cost)}


def _count_json(result: Any) -> dict[str, Any]:
    s = result.summary
    return {"countId": result.count_id, "dryRun": result.dry_run, "lotsCounted": s.lots,
            "adjusted": s.adjusted, "unitsOver": s.units_over, "unitsShort": s.units_short,
            "lots": [{"inventoryId": d.inventory_id, "onHand": d.on_hand,
                      "counted": d.counted, "difference": d.difference}
                     for d in result.differences]}


# long: a router factory; its routes are closures over the principal dependency
def scan_router(get_principal: Callable[..., Any], prefix: str = "/api/v1") -> APIRouter:
    """The scan routes and pages, authenticated by ``get_principal`` (the app's
    dependency; its result has ``username``, ``grants`` and ``csrf``)."""
    router = APIRouter()
    # a default, not an Annotated alias: with postponed annotations a local alias would
    # not resolve when FastAPI reads the signature
    principal_dependency = Depends(get_principal)

    def require_receiving(request: Request, principal: Any) -> Any:
        app = site_of(request).app
        if not scanning.may_receive(app.unit_of_work, principal.username):
            raise ForbiddenError("Access Denied")
        return app

    @router.post(prefix + "/visits/{pid}/{encounter}/materials/scan", tags=["materials"],
                 summary="Record the scanned lot (GS1) as the lot used for a visit's material")
    def post_scan(pid: Pid, encounter: Encounter, body: ScanRequest, request: Request,
                  principal: Any = principal_dependency) -> dict[str, Any]:
        if not principal.grants.update_materials:
            raise ForbiddenError("Access Denied")
        app = site_of(request).app

        def work() -> scanning.ChairScanResult:
            with app.unit_of_work() as uow:
                result = scanning.record_chair_scan(
                    uow, pid, encounter, body.scan, user=principal.username,
                    service_username=app.settings.service_username)
                uow.commit()
                return result

        result = retry_on_lock_conflict(work)
        recorded = record_json(result.record.as_dict())
        recorded["message"] = result.message  # names the vial of a product counted in units
        return {**recorded, "scan": result.scan.as_dict(), "productId": result.drug_id,
                "inventoryId": result.inventory_id, "lotNumber": result.lot_number,
                "containers": list(result.containers)}

    @router.post(prefix + "/receipts/scan", tags=["stock"],
                 summary="Receive one lot from a GS1 scan (product, lot and expiry)")
    def post_receipt(body: ReceiveScanRequest, request: Request,
                     principal: Any = principal_dependency) -> dict[str, Any]:
        app = require_receiving(request, principal)
        result = scanning.receive_by_scan(
            app.unit_of_work, body.scan, user=principal.username, today=date.today(),
            packages=body.packages, quantity=body.quantity, unit_cost=str(body.unitCost),
            warehouse=body.warehouse, supplier=body.supplier, invoice=body.invoice,
            expires=None if body.expires is None else body.expires.isoformat(),
            dry_run=body.dryRun)
        return _receipt_json(result)

    @router.post(prefix + "/counts/scan", tags=["stock"],
                 summary="Count stock by scanning packages (each scan adds one package)")
    def post_count(body: CountScanRequest, request: Request,
                   principal: Any = principal_dependency) -> dict[str, Any]:
        app = require_receiving(request, principal)
        result = scanning.count_by_scan(app.unit_of_work, body.scans, user=principal.username,
                                        today=date.today(), warehouse=body.warehouse,
                                        dry_run=body.dryRun)
        return _count_json(result)

    def page(name: str, title: str) -> Callable[..., Response]:
        def show(request: Request, principal: Any = principal_dependency) -> Response:
            require_receiving(request, principal)
            ctx = request.app.state.ctx
            html = ctx.templates.get_template(name).render(
                root=ctx.config.root_path, principal=principal, title=title)
            return HTMLResponse(html)
        return show

    router.add_api_route("/receive", page("receive.html.j2", "Receive by scan"),
                         methods=["GET"], include_in_schema=False)
    router.add_api_route("/count", page("count.html.j2", "Count by scan"),
                         methods=["GET"], include_in_schema=False)
    return router
