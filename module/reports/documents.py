"""Report documents: the sections (tables) and charts of each report, built from
the service's value types. Pure: no SQL, no printing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..products.domain import PackageSettings, describe_stock
from ..resources import templates_dir
from .charts import StockBar, stock_vs_reorder_svg, usage_line_svg
from .domain import ActivityRow, LotRow, StockRow
from .formatting import Column, Section, cell
from .service import LotRecall, RecallLine, UsageReport

# Charts stay readable: the products most at risk / most used, not all 10,000.
MAX_STOCK_BARS = 30
MAX_USAGE_CHARTS = 12


@dataclass
class Document:
    """A report: sections plus the charts the HTML version shows."""

    title: str
    meta: dict[str, Any]
    sections: list[Section] = field(default_factory=list)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (heading, svg)
    text: list[str] | None = None  # a report's own text layout (else the tables)


def _days(v: int | None) -> str:
    return "" if v is None else str(v)


def in_packages(value: float | int, packaging: PackageSettings) -> str:
    """Units as packages and units (``1 vial + 40 U``; a product counted as OpenEMR
    counts prints the plain number), through the one formatter of products."""
    if isinstance(value, float) and value != int(value):
        return cell(value)
    return describe_stock(int(value), packaging)


def _stock_of(attribute: str) -> Callable[[Any], str]:
    return lambda r: in_packages(getattr(r, attribute), r.packaging)


STOCK_COLUMNS = [
    Column("ID", "drug_id", True),
    Column("Product", "name"),
    Column("Usable", "usable", True),
    Column("Expired", "expired", True),
    Column("Reorder pt", "reorder_point", True),
    Column("Status", "status"),
    Column("Used 90d", "used_90d", True),
    Column("Days cover", "days_of_cover", True),
    Column("Usable stock", "usable_stock", get=_stock_of("usable")),
    Column("Reorder pt stock", "reorder_point_stock", get=_stock_of("reorder_point")),
]
# text and HTML: stock in packages and units in the count columns themselves
STOCK_TEXT_COLUMNS = [
    *STOCK_COLUMNS[:2],
    Column("Usable", "usable", True, get=_stock_of("usable")),
    Column("Expired", "expired", True, get=_stock_of("expired")),
    Column("Reorder pt", "reorder_point", True, get=_stock_of("reorder_point")),
    *STOCK_COLUMNS[5:8],
]

LOT_COLUMNS = [
    Column("Product", "product"),
    Column("Warehouse", "warehouse"),
    Column("Lot", "lot_number"),
    Column("Expires", "expiration"),
    Column("Days left", "days_left", True),
    Column("On hand", "on_hand", True),
    Column("Stock", "stock", get=_stock_of("on_hand")),
]
LOT_TEXT_COLUMNS = [*LOT_COLUMNS[:5], Column("On hand", "on_hand", True,
                                              get=_stock_of("on_hand"))]

EXPIRING_MONEY = ("unit_cost", "value")
EXPIRING_COLUMNS = [
    Column("Product", "product"),
    Column("Lot", "lot_number"),
    Column("Warehouse", "warehouse"),
    Column("Expires", "expiration", get=lambda r: r.expiration or ("(blank)" if r.expired
                                                                      else None)),
    Column("Days left", "days_left", True),
    Column("State", "state", get=lambda r: "EXPIRED" if r.expired else "EXPIRING"),
    Column("On hand", "on_hand", True),
    Column("Unit cost", "unit_cost", True, get=lambda r: f"{r.unit_cost:.2f}"),
    Column("Value", "value", True, get=lambda r: f"{r.value:.2f}"),
    Column("Stock", "stock", get=_stock_of("on_hand")),
]

ACTIVITY_COLUMNS = [
    Column("ID", "drug_id", True),
    Column("Product", "product"),
    Column("Start", "start", True),
    Column("Sales", "sales", True),
    Column("Distributions", "distributions", True),
    Column("Purchases", "purchases", True),
    Column("Transfers", "transfers", True),
    Column("Adjustments", "adjustments", True),
    Column("End", "end", True),
]

SHORTAGE_COLUMNS = [
    Column("Product", "product"),
    Column("PID", "pid", True),
    Column("Encounter", "encounter", True),
    Column("Visit date", "visit_date"),
    Column("Code", "code", get=lambda r: f"{r['code_type']} {r['code']}"),
    Column("Required", "required", True),
    Column("Allocated", "allocated", True),
    Column("Short", "short", True),
]

RECALL_COLUMNS = [
    Column("PID", "pid", True),
    Column("Patient", "name"),
    Column("DOB", "dob"),
    Column("Phone", "phone"),
    Column("E-mail", "email"),
    Column("Visit", "visit_date"),
    Column("Encounter", "encounter", True),
    Column("Units", "units", True),
    Column("Provider", "provider"),
    Column("Product", "product"),
    Column("Lot", "lot_number"),
]

RECALL_LOT_COLUMNS = [
    Column("Inventory", "inventory_id", True),
    Column("Product", "product"),
    Column("Warehouse", "warehouse"),
    Column("Expires", "expiration"),
    Column("On hand", "on_hand", True),
    Column("Destroyed", "destroyed"),
]


def stock_document(rows: list[StockRow], lots: Iterable[LotRow] | None, *, today: date
                   ) -> Document:
    doc = Document("Stock", {"report": "stock", "date": today})
    counts: defaultdict[str, int] = defaultdict(int)
    for r in rows:
        counts[r.status] += 1
    doc.sections.append(Section(
        "Stock by product", STOCK_COLUMNS, rows, name="products",
        text_columns=STOCK_TEXT_COLUMNS,
        notes=[f"{len(rows)} product(s): {counts['OK']} OK, {counts['LOW']} LOW, "
               f"{counts['OUT_OF_STOCK']} OUT_OF_STOCK (usable = not destroyed, not expired, "
               f"available warehouse; cover at the last 90 days' use)"],
    ))
    if lots is not None:
        doc.sections.append(Section("Lots", LOT_COLUMNS, lots, name="lots",
                                    text_columns=LOT_TEXT_COLUMNS))
    doc.charts.append(stock_chart(rows))
    return doc


def stock_chart(rows: list[StockRow]) -> tuple[str, str]:
    """Products with a reorder point, most at risk first (usable / reorder point):
    (caption, svg)."""
    candidates = [r for r in rows if r.reorder_point > 0 and r.active and r.dispensable]
    candidates.sort(key=lambda r: (r.usable / r.reorder_point, r.name))
    shown = candidates[:MAX_STOCK_BARS]
    caption = (f"{len(shown)} of {len(candidates)} products with a reorder point, most at "
               "risk first; dashed line = reorder point; green OK, amber LOW, red OUT_OF_STOCK")
    svg = stock_vs_reorder_svg(
        [StockBar(r.name, r.usable, r.reorder_point, r.status) for r in shown],
        title="Usable stock vs reorder point",
    )
    return caption, svg


def expiring_document(lots: list[LotRow], *, today: date, horizon_days: int,
                      show_costs: bool = True) -> Document:
    """Lots expired or expiring; unit cost and value only for users allowed to see
    costs (:func:`.service.costs_visible`)."""
    doc = Document("Expiring lots", {"report": "expiring", "date": today,
                                     "horizon_days": horizon_days})
    expired = [lot for lot in lots if lot.expired]
    note = f"{len(lots)} lot(s), {len(expired)} already expired"
    if show_costs:
        value = sum((lot.value for lot in lots), Decimal("0"))
        note += (f"; value at lot cost {value:.2f} (expired: "
                 f"{sum((lot.value for lot in expired), Decimal(0)):.2f})")
    columns = [c for c in EXPIRING_COLUMNS if show_costs or c.key not in EXPIRING_MONEY]
    text_columns = [Column("On hand", "on_hand", True, get=_stock_of("on_hand"))
                    if c.key == "on_hand" else c for c in columns if c.key != "stock"]
    doc.sections.append(Section(
        f"Lots expired or expiring within {horizon_days} days", columns, lots,
        name="lots", notes=[note], text_columns=text_columns))
    return doc


def activity_document(rows: list[ActivityRow], *, start: date, end: date) -> Document:
    doc = Document("Inventory activity", {"report": "activity", "from": start, "to": end})
    totals = {k: sum(getattr(r, k) for r in rows) for k in
              ("start", "sales", "distributions", "purchases", "transfers", "adjustments",
               "end")}
    doc.sections.append(Section(
        f"Inventory activity {start} to {end} (as OpenEMR's Inventory Activity report)",
        ACTIVITY_COLUMNS, rows, name="products",
        notes=["Grand total: " + ", ".join(f"{k} {v}" for k, v in totals.items())],
    ))
    return doc


def usage_document(usage: UsageReport, *, start: date, end: date) -> Document:
    doc = Document("Usage", {"report": "usage", "from": start, "to": end})
    doc.sections += [
        Section("Units used per product", [Column("ID", "drug_id", True),
                Column("Product", "product"), Column("Units", "units", True),
                Column("Visits", "visits", True)], usage.by_product, name="by_product"),
        Section("Units used per procedure code", [Column("Code type", "code_type"),
                Column("Code", "code"), Column("Product", "product"),
                Column("Units", "units", True)], usage.by_code, name="by_code"),
        Section("Units used per provider", [Column("Provider", "provider"),
                Column("Product", "product"), Column("Units", "units", True)],
                usage.by_provider, name="by_provider"),
        Section("Units used per month", [Column("Month", "month"),
                Column("Product", "product"), Column("Units", "units", True)],
                usage.by_month, name="by_month"),
    ]
    doc.charts += usage_charts(usage)
    return doc


def usage_charts(usage: UsageReport) -> list[tuple[str, str]]:
    """One usage-over-time chart per product, for the most used products."""
    per: dict[int, dict[str, int]] = defaultdict(dict)
    for r in usage.by_month:
        per[r["drug_id"]][r["month"]] = r["units"]
    charts = []
    for n, p in enumerate(usage.by_product[:MAX_USAGE_CHARTS]):
        units = [per[p["drug_id"]].get(m, 0) for m in usage.months]
        title = f"{p['product']}: units used per month"
        caption = f"{p['units']} unit(s) in {p['visits']} visit(s) in the period"
        charts.append((caption, usage_line_svg(usage.months, units, title=title,
                                                colour_index=n)))
    return charts


def shortages_document(rows: list[dict[str, Any]], *, today: date) -> Document:
    doc = Document("Open shortages", {"report": "shortages", "date": today})
    doc.sections.append(Section(
        "Visits waiting for stock", SHORTAGE_COLUMNS, rows, name="shortages",
        notes=[f"{len(rows)} visit line(s) short, {sum(r['short'] for r in rows)} unit(s) in all"],
    ))
    return doc


def combined_document(docs: list[Document], *, title: str, meta: dict[str, Any]) -> Document:
    """Several reports in one document; each section's JSON key is prefixed with its
    report's name (stock and activity both list "products")."""
    out = Document(title, meta)
    for d in docs:
        report = str(d.meta.get("report", ""))
        for s in d.sections:
            name = s.name or s.title
            key = name if not report or name == report else f"{report}_{name}"
            out.sections.append(Section(s.title, s.columns, s.rows, s.notes, key,
                                        s.text_columns))
        out.charts += d.charts
    return out


def lot_recall_document(recall: LotRecall) -> Document:
    doc = Document(f"Recall of lot {recall.lot_number}",
                   {"lot": recall.lot_number,
                    "patient_count": len({p.pid for p in recall.patients}),
                    "units_given": recall.units_given, "units_on_hand": recall.units_on_hand})
    doc.sections.append(Section(
        "Patients who received the lot", RECALL_COLUMNS, recall.patients, name="patients",
        notes=[f"{len({p.pid for p in recall.patients})} patient(s), {len(recall.patients)} "
               f"visit(s), {recall.units_given} unit(s) given"],
    ))
    doc.sections.append(Section(
        "Units still in stock", RECALL_LOT_COLUMNS,
        [{"inventory_id": lot.inventory_id, "product": lot.product, "warehouse": lot.warehouse,
          "expiration": lot.expiration, "on_hand": lot.on_hand, "destroyed": destroyed}
         for lot, destroyed in recall.lots],
        name="lots", notes=[f"{recall.units_on_hand} unit(s) on hand in lots not destroyed"],
    ))
    return doc


def patient_recall_document(pid: int, lines: list[RecallLine]) -> Document:
    doc = Document(f"Lots received by patient {pid}", {"pid": pid})
    cols = [Column("Visit", "visit_date"), Column("Encounter", "encounter", True),
            Column("Product", "product"), Column("Lot", "lot_number"),
            Column("Expires", "expiration"), Column("Units", "units", True),
            Column("Provider", "provider")]
    name = lines[0].name if lines else ""
    doc.sections.append(Section(
        f"Lots received by patient {pid}" + (f" ({name})" if name else ""), cols, lines,
        name="lots", notes=[f"{len(lines)} lot/visit line(s)"],
    ))
    return doc


def html_cells(section: Section) -> tuple[list[str], list[bool], list[list[str]]]:
    """Headers, right-alignment flags and the cells of a section for the template."""
    columns = section.human_columns
    rows = [[cell(c.value(r)) for c in columns] for r in section.rows]
    return [c.header for c in columns], [c.right for c in columns], rows


def render_html(doc: Document, environment: Any, *, generated: datetime) -> str:
    """One self-contained HTML file: inline CSS and SVG, no scripts, no links."""
    template = environment.get_template("report.html.j2")
    sections = []
    for s in doc.sections:
        headers, right, rows = html_cells(s)
        sections.append({"title": s.title, "notes": s.notes, "headers": headers,
                         "right": right, "rows": rows})
    return template.render(
        title=doc.title, meta={k: cell(v) for k, v in doc.meta.items()}, sections=sections,
        charts=[(h, Markup(svg)) for h, svg in doc.charts],  # noqa: S704 - escaped in charts.py
        generated=generated.strftime("%Y-%m-%d %H:%M"),
    )


def template_environment() -> Any:
    """The Jinja2 environment of the report template (autoescaped HTML)."""
    return Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=StrictUndefined,
    )
