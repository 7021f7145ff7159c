"""The seam to the planned-vs-actual usage service (issue 12, ``aesthetic_inventory.usage``).

The materials endpoints (seed 003 8.7 / 8.8) are thin: they hand the visit, the user and
the validated request to the usage service, which owns the domain rules, the SQL and the
locking. This module only adapts the service's results to the API's JSON (seed 003
names, numbers as JSON numbers); it holds no SQL.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from ..bootstrap import App
from ..consumption.containers import service as containers
from ..unit_of_work import UnitOfWorkFactory
from ..usage import service, show


class MaterialsGateway(Protocol):
    """What the materials endpoints need (tests may hand the app another one).

    ``uow_factory``: the web request's one unit of work (default: a new one per call)."""

    def show(self, pid: int, encounter: int, *, username: str, show_costs: bool,
             uow_factory: UnitOfWorkFactory | None = None) -> dict: ...

    def record(self, pid: int, encounter: int, *, username: str,
               materials: list[dict[str, Any]], confirm: bool = False,
               uow_factory: UnitOfWorkFactory | None = None) -> dict: ...


def _number(value: Any) -> float | None:
    if value is None or value == "":
        return None
    return float(Decimal(str(value)))


def materials_json(view: dict[str, Any], show_costs: bool) -> dict[str, Any]:
    """Seed 003 API 8.7 from the usage service's view of a visit."""

    def cost(value: Any) -> float | None:
        return _number(value) if show_costs else None

    materials = []
    for m in view.get("materials", []):
        materials.append({
            "usageId": m.get("mappingId"),
            "itemMasterId": m.get("itemId"),
            "itemName": m.get("itemName"),
            "categoryName": m.get("categoryName") or None,
            "code": m.get("code"),
            "plannedQuantity": _number(m.get("plannedQuantity")),
            "actualQuantity": _number(m.get("actualQuantity")),
            "varianceQuantity": _number(m.get("varianceQuantity")),
            "varianceReason": m.get("varianceReason"),
            "unitName": m.get("unitName"),
            "unitPrice": cost(m.get("unitPrice")),
            "totalPlannedCost": cost(m.get("totalPlannedCost")),
            "totalActualCost": cost(m.get("totalActualCost")),
            "stockStatus": m.get("stockStatus"),
            "currentStock": m.get("currentStock"),
            "recordedAt": m.get("recordedAt"),
            "recordedBy": m.get("recordedBy"),
            "notes": m.get("notes"),
            "actualLot": m.get("actualLot"),
            "lots": m.get("lots", []),
        })
    return {
        "pid": view.get("pid"),
        "encounter": view.get("encounter"),
        "materialsDeducted": any(m.get("heldUnits") for m in view.get("materials", [])),
        "materials": materials,
        "totalPlannedCost": cost(view.get("totalPlannedCost")),
        "totalActualCost": cost(view.get("totalActualCost")),
        "costVariance": cost(view.get("costVariance")),
    }


def record_json(result: dict[str, Any]) -> dict[str, Any]:
    """Seed 003 API 8.8 from the usage service's record result."""
    return {
        "message": "Actual material usage recorded",
        "pid": result.get("pid"),
        "encounter": result.get("encounter"),
        "materialsUpdated": result.get("materialsUpdated"),
        "stockAdjustments": [
            {"usageId": a.get("mappingId"), "itemName": a.get("itemName"),
             "adjustment": _number(a.get("adjustment")), "reason": a.get("reason"),
             "lots": a.get("lots", [])}
            for a in result.get("stockAdjustments", [])
        ],
        "note": result.get("note"),
    }


class UsageMaterials:
    """:class:`MaterialsGateway` over ``aesthetic_inventory.usage.service``."""

    def __init__(self, app: App) -> None:
        self.app = app

    def show(self, pid: int, encounter: int, *, username: str, show_costs: bool,
             uow_factory: UnitOfWorkFactory | None = None) -> dict:
        factory = uow_factory or self.app.unit_of_work
        # the API shows no history: two reads, not three
        view = show.show_usage(factory, pid, encounter, can_see_costs=show_costs,
                               with_history=False)
        out = materials_json(view.as_dict(), show_costs)
        # the open vials each material was drawn from (products counted in units)
        boxes = containers.visit_containers(factory, pid, encounter, now=datetime.now())
        for material in out["materials"]:
            material["containers"] = boxes.get(material["usageId"], [])
        return out

    def record(self, pid: int, encounter: int, *, username: str,
               materials: list[dict[str, Any]], confirm: bool = False,
               uow_factory: UnitOfWorkFactory | None = None) -> dict:
        factory = uow_factory or self.app.unit_of_work
        inputs = []
        for item in materials:
            # a usageId names the mapping: the service finds it among the visit's rows it
            # reads anyway (issue 21: no lookup of its own)
            code_type, _, code_value = str(item.get("code") or "").partition(":")
            inputs.append(service.MaterialInput(
                code_type=code_type, code=code_value, actual=item["actualQuantity"],
                product=item.get("productId"), reason=item.get("varianceReason"),
                notes=item.get("notes"), lot=item.get("lot"), mapping_id=item.get("usageId"),
            ))
        result = service.record_usage(
            factory, pid, encounter, inputs, user=username,
            service_username=self.app.settings.service_username, confirmed=confirm,
            user_verified=True,  # the session check read users.active for this request
        )
        return record_json(result.as_dict())
