"""The seam to the reports service (issue 10, ``aesthetic_inventory.reports``).

Stock, lot recall and the report pages reuse the reports' services and their HTML layout
(charts included); this module only adapts their value types to JSON and holds no SQL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from ..errors import InvalidInputError
from .services import NotFoundError

REPORT_PAGES = ("stock", "expiring", "usage")
EXPIRING_HORIZON_DAYS = 90


class ReportsMissingError(NotFoundError):
    """The reports package is not part of this build."""


def _reports() -> tuple[Any, Any]:
    try:
        from ..reports import documents, service  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        raise ReportsMissingError(
            "reports are not available: the reports service is not part of this build"
        ) from None
    return documents, service


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def stock_json(engine: Engine, *, today: date) -> dict[str, Any]:
    """Per product: usable and expired units, reorder point, status, days of cover."""
    _documents, service = _reports()
    with service.read_only(engine) as repo:
        rows = service.stock_rows(repo, today=today)
    return {"date": today.isoformat(), "products": [
        {"productId": r.drug_id, "name": r.name, "active": r.active, "usable": r.usable,
         "expired": r.expired, "reorderPoint": r.reorder_point, "used90d": r.used_90d,
         "stockStatus": r.status, "daysOfCover": r.days_of_cover}
        for r in rows]}


def recall_json(engine: Engine, lot_number: str, *, today: date) -> dict[str, Any]:
    """Who received units of the lot(s) with this number, and where the rest is."""
    _documents, service = _reports()
    try:
        with service.read_only(engine) as repo:
            recall = service.recall_lot(repo, lot_number, today=today)
    except InvalidInputError as exc:
        raise NotFoundError(str(exc)) from None
    return {
        "lotNumber": recall.lot_number,
        "unitsGiven": recall.units_given,
        "unitsOnHand": recall.units_on_hand,
        "patients": [
            {"pid": p.pid, "name": p.name, "dob": _iso(p.dob), "phone": p.phone,
             "email": p.email, "visitDate": _iso(p.visit_date), "encounter": p.encounter,
             "units": p.units, "provider": p.provider, "product": p.product,
             "inventoryId": p.inventory_id}
            for p in recall.patients],
        "lots": [
            {"inventoryId": lot.inventory_id, "product": lot.product,
             "warehouse": lot.warehouse, "expiration": _iso(lot.expiration),
             "onHand": lot.on_hand, "destroyed": destroyed}
            for lot, destroyed in recall.lots],
    }


def report_page(engine: Engine, name: str, *, today: date, user: str) -> str:
    """One report as the reports' self-contained HTML page (tables and SVG charts);
    money only for a user the reports' one cost check allows."""
    documents, service = _reports()
    if name not in REPORT_PAGES:
        raise NotFoundError(f"No such report: {name}")
    with service.read_only(engine) as repo:
        if name == "stock":
            doc = documents.stock_document(service.stock_rows(repo, today=today), None,
                                           today=today)
        elif name == "expiring":
            lots = service.expiring_lots(repo, today=today, horizon_days=EXPIRING_HORIZON_DAYS)
            doc = documents.expiring_document(
                lots, today=today, horizon_days=EXPIRING_HORIZON_DAYS,
                show_costs=service.costs_visible(repo.conn, user))
        else:
            start = today - timedelta(days=90)
            doc = documents.usage_document(service.usage_report(repo, start=start, end=today),
                                           start=start, end=today)
    return documents.render_html(doc, documents.template_environment(),
                                 generated=datetime.now())
