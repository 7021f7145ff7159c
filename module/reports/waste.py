"""``report waste``: units and value written off from containers (beyond use, dropped,
contaminated...), grouped by product, provider or reason, with waste as a share of the
units opened and a bar chart. Pure grouping and the document; the rows come from the
containers repository inside the report's read-only transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from html import escape

from sqlalchemy.engine import Connection

from ..consumption.containers.repository import ContainerRepository, WasteRow
from ..errors import InvalidInputError
from .charts import BAR_LEFT, BAR_PLOT_W, PALETTE, ROW_H, _nice_max, hbar_frame
from .documents import Document
from .formatting import Column, Section

GROUPINGS: tuple[str, ...] = ("product", "provider", "reason")
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class WasteLine:
    """One group of the waste report."""

    key: str
    unit: str
    containers: int
    units_wasted: int
    value: Decimal
    units_opened: int | None  # by product only: what the share is of

    @property
    def share(self) -> Decimal | None:
        """Waste as a percentage of the units opened (by product only)."""
        if not self.units_opened:
            return None
        return (Decimal(100) * self.units_wasted / self.units_opened).quantize(
            Decimal("0.1"), ROUND_HALF_UP)


def group_waste(rows: Sequence[WasteRow], opened: dict[int, int], by: str) -> list[WasteLine]:
    """Waste per product, provider (of the visit that opened the container) or reason;
    the most wasted first. Containers closed with no waste count only as opened."""
    if by not in GROUPINGS:
        raise InvalidInputError(f"--by must be one of {', '.join(GROUPINGS)}, got {by!r}")
    groups: dict[str, list[WasteRow]] = {}
    for r in rows:
        key = {"product": f"{r.product} (#{r.drug_id})",
               "provider": r.provider or "(stock use)", "reason": r.reason or "(none)"}[by]
        groups.setdefault(key, []).append(r)
    lines = []
    for key, items in groups.items():
        units = {r.counting_unit for r in items}
        lines.append(WasteLine(
            key, units.pop() if len(units) == 1 else "mixed", len(items),
            sum(r.wasted for r in items),
            sum((r.unit_cost * r.wasted for r in items), Decimal(0)).quantize(
                CENTS, ROUND_HALF_UP),
            opened.get(items[0].drug_id) if by == "product" else None))
    if by == "product":  # products opened in the period with nothing closed yet
        seen = {r.drug_id for r in rows}
        lines += [WasteLine(f"#{d}", "", 0, 0, Decimal("0.00"), n)
                  for d, n in sorted(opened.items()) if d not in seen]
    return sorted(lines, key=lambda x: (-x.units_wasted, x.key))


COLUMNS = [
    Column("Group", "key"),
    Column("Unit", "unit"),
    Column("Containers", "containers", True),
    Column("Units wasted", "units_wasted", True),
    Column("Value", "value", True),
    Column("Units opened", "units_opened", True),
    Column("Waste %", "share", True, get=lambda x: x.share),
]

DETAIL_COLUMNS = [
    Column("Container", "container_id", True),
    Column("Product", "product"),
    Column("Closed at", "closed_at", get=lambda r: r.closed_at.strftime("%Y-%m-%d %H:%M")),
    Column("Reason", "reason"),
    Column("Provider", "provider"),
    Column("Units", "units", True),
    Column("Wasted", "wasted", True),
]


def waste_svg(lines: Sequence[WasteLine], *, title: str) -> str:
    """Horizontal bars of units wasted per group (one ``rect.bar`` each, with a
    ``<title>`` naming the units, value and share)."""
    row_h, left, plot_w = ROW_H, BAR_LEFT, BAR_PLOT_W
    scale = _nice_max(max([x.units_wasted for x in lines] + [0]))
    parts = hbar_frame(len(lines), scale, title=title, css="waste-chart")
    for n, line in enumerate(lines):
        y = 34 + n * row_h
        w = plot_w * line.units_wasted / scale
        label = line.key if len(line.key) <= 30 else line.key[:29] + "…"
        share = "" if line.share is None else f", {line.share}% of units opened"
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" '
                     f'class="label">{escape(label)}</text>')
        parts.append(
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{PALETTE[n % len(PALETTE)]}"><title>{escape(line.key)}: '
            f'{line.units_wasted} {escape(line.unit)} wasted, value {line.value}{share}'
            '</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def waste_document(rows: Sequence[WasteRow], opened: dict[int, int], *, by: str,
                   start: date, end: date) -> Document:
    """The report: the groups, every closed container of the period, a chart."""
    lines = group_waste(rows, opened, by)
    doc = Document("Waste from opened containers",
                   {"report": "waste", "by": by, "from": start, "to": end})
    wasted = sum(x.units_wasted for x in lines)
    value = sum((x.value for x in lines), Decimal("0.00"))
    opened_total = sum(opened.values())
    share = (f", {Decimal(100) * wasted / opened_total:.1f}% of {opened_total} unit(s) opened"
             if opened_total else "")
    doc.sections.append(Section(
        f"Waste by {by}", COLUMNS, lines, name="waste",
        notes=[f"{wasted} unit(s) wasted, value {value}{share}"]))
    doc.sections.append(Section(
        "Closed containers", DETAIL_COLUMNS, list(rows), name="containers",
        notes=[f"{len(rows)} container(s) closed from {start} to {end}"]))
    if lines:
        doc.charts.append((f"Units wasted by {by}",
                           waste_svg([x for x in lines if x.units_wasted] or lines,
                                     title=f"Units wasted by {by}")))
    return doc


def waste_report(conn: Connection, *, by: str, start: date, end: date) -> Document:
    """Read the period's closed containers and opened units, and build the report."""
    repo = ContainerRepository(conn)
    since = datetime.combine(start, time())
    until = datetime.combine(end + timedelta(days=1), time())
    return waste_document(repo.waste_rows(since, until), repo.opened_units(since, until),
                          by=by, start=start, end=end)
