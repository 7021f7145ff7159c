"""Chair-side scanning over HTTP (issue 19): ``POST /visits/{pid}/{encounter}/materials/
scan`` records the scanned lot as the one actually used for the visit's material of the
scanned product. Same role as the materials PUT (OpenEMR's update-materials grant).

Built by :func:`scan_router` from the app's principal dependency, so this file does not
import ``app.py`` (no import cycle) and ``app.py`` includes it with one line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from ..scanning import service as scanning
from ..unit_of_work import retry_on_lock_conflict
from .materials import record_json
from .services import ForbiddenError

Pid = Annotated[int, Path(ge=1, le=2**31 - 1)]
Encounter = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ScanRequest(BaseModel):
    """What a keyboard-wedge scanner (or a person) typed into the scan field."""

    model_config = ConfigDict(extra="forbid")
    scan: str = Field(min_length=1, max_length=512)


def scan_router(get_principal: Callable[..., Any], prefix: str = "/api/v1") -> APIRouter:
    """The scan routes, authenticated by ``get_principal`` (the app's dependency; its
    result has ``username`` and ``grants``)."""
    router = APIRouter(prefix=prefix)
    # a default, not an Annotated alias: with postponed annotations a local alias would
    # not resolve when FastAPI reads the signature
    principal_dependency = Depends(get_principal)

    @router.post("/visits/{pid}/{encounter}/materials/scan", tags=["materials"],
                 summary="Record the scanned lot (GS1) as the lot used for a visit's material")
    def post_scan(pid: Pid, encounter: Encounter, body: ScanRequest, request: Request,
                  principal: Any = principal_dependency) -> dict[str, Any]:
        if not principal.grants.update_materials:
            raise ForbiddenError("Access Denied")
        app = request.app.state.ctx.app

        def work() -> scanning.ChairScanResult:
            with app.unit_of_work() as uow:
                result = scanning.record_chair_scan(
                    uow, pid, encounter, body.scan, user=principal.username,
                    service_username=app.settings.service_username)
                uow.commit()
                return result

        result = retry_on_lock_conflict(work)
        recorded = record_json(result.record.as_dict())
        recorded["message"] = (f"lot {result.lot_number} recorded as used for "
                               f"{result.product}")
        return {**recorded, "scan": result.scan.as_dict(), "productId": result.drug_id,
                "inventoryId": result.inventory_id, "lotNumber": result.lot_number}

    return router
