"""Inline SVG charts for the HTML report: pure functions from numbers to markup,
no network, no scripts, no external assets. Every drawn datum carries a class
(``bar``, ``point``, ``reorder``) and a ``<title>`` tooltip, so a browser test can
count them and a reader can hover them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 720
PALETTE = ("#2b6cb0", "#c05621", "#2f855a", "#6b46c1", "#b83280", "#2c7a7b")


def _nice_max(value: float) -> float:
    """A round axis maximum at or above ``value``."""
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for mult in (1, 2, 2.5, 5, 10):
        if value <= mult * step:
            return mult * step
    return 10 * step  # pragma: no cover


def _fmt(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class StockBar:
    """One product of the stock chart."""

    label: str
    usable: int
    reorder_point: float
    status: str


# The horizontal-bar charts: one row per item, labels left of the plot.
ROW_H, BAR_LEFT, BAR_RIGHT = 22, 220, 40
BAR_PLOT_W = WIDTH - BAR_LEFT - BAR_RIGHT


def hbar_frame(rows: int, scale_max: float, *, title: str, css: str) -> list[str]:
    """The opening ``<svg>``, title, vertical grid and axis of a horizontal-bar chart
    of ``rows`` rows (the caller adds the rows and the closing tag); row ``n`` starts at
    y = 34 + n * ROW_H."""
    height = 40 + ROW_H * max(rows, 1) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css}" role="img" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{escape(title)}">',
        f'<text x="{BAR_LEFT}" y="20" class="chart-title">{escape(title)}</text>',
    ]
    for n in range(5):
        x = BAR_LEFT + BAR_PLOT_W * n / 4
        parts.append(f'<line x1="{x:.1f}" y1="30" x2="{x:.1f}" y2="{height - 28}" '
                     'class="grid"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 12}" text-anchor="middle" '
                     f'class="axis">{_fmt(scale_max * n / 4)}</text>')
    return parts


def stock_vs_reorder_svg(items: Sequence[StockBar], *, title: str) -> str:
    """Horizontal bars of usable stock with each product's reorder point as a tick:
    one ``rect.bar`` and one ``line.reorder`` per product."""
    row_h, left = ROW_H, BAR_LEFT
    scale_max = _nice_max(max([max(i.usable, i.reorder_point) for i in items] + [0]))
    plot_w = BAR_PLOT_W
    colour = {"OK": "#2f855a", "LOW": "#d69e2e", "OUT_OF_STOCK": "#c53030"}
    parts = hbar_frame(len(items), scale_max, title=title, css="stock-chart")
    for n, item in enumerate(items):
        y = 34 + n * row_h
        w = plot_w * max(item.usable, 0) / scale_max
        rx = left + plot_w * item.reorder_point / scale_max
        label = item.label if len(item.label) <= 30 else item.label[:29] + "…"
        parts.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end" '
                     f'class="label">{escape(label)}</text>')
        parts.append(
            f'<rect class="bar" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
            f'fill="{colour.get(item.status, "#4a5568")}"><title>{escape(item.label)}: '
            f'{item.usable} usable, reorder point {_fmt(item.reorder_point)} '
            f'({item.status})</title></rect>'
        )
        parts.append(
            f'<line class="reorder" x1="{rx:.1f}" y1="{y}" x2="{rx:.1f}" y2="{y + row_h}">'
            f'<title>reorder point {_fmt(item.reorder_point)}</title></line>'
        )
    parts.append("</svg>")
    return "".join(parts)


def usage_line_svg(months: Sequence[str], units: Sequence[int], *, title: str,
                   colour_index: int = 0) -> str:
    """Units used per month for one product: a polyline and one ``circle.point`` per
    month (empty months are drawn at zero)."""
    height, left, right, top, bottom = 180, 50, 36, 30, 40
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    scale_max = _nice_max(max(list(units) + [0]))
    colour = PALETTE[colour_index % len(PALETTE)]
    step = plot_w / max(len(months) - 1, 1)
    points = []
    for n, value in enumerate(units):
        x = left + (step * n if len(months) > 1 else plot_w / 2)
        y = top + plot_h - plot_h * max(value, 0) / scale_max
        points.append((x, y, value, months[n]))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart usage-chart" role="img" '
        f'width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{escape(title)}">',
        f'<text x="{left}" y="18" class="chart-title">{escape(title)}</text>',
    ]
    for n in range(3):
        y = top + plot_h * n / 2
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" '
                     'class="grid"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="axis">'
                     f'{_fmt(scale_max * (2 - n) / 2)}</text>')
    if len(points) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                     'stroke-width="2"/>')
    label_every = max(1, len(points) // 12)
    for n, (x, y, value, month) in enumerate(points):
        parts.append(f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" '
                     f'fill="{colour}"><title>{escape(month)}: {value}</title></circle>')
        if n % label_every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 18}" text-anchor="middle" '
                         f'class="axis">{escape(month)}</text>')
    parts.append("</svg>")
    return "".join(parts)
