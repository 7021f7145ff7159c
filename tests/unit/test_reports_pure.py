"""Pure parts of the reports: stock status, cover, the Inventory Activity
classification, quantity validation, formatting and the SVG charts."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.reports.charts import StockBar, stock_vs_reorder_svg, usage_line_svg
from aesthetic_inventory.reports.domain import (
    LOW,
    OK,
    OUT_OF_STOCK,
    classify_sale,
    days_of_cover,
    parse_quantity,
    stock_status,
)
from aesthetic_inventory.reports.formatting import (
    Column,
    Section,
    render_text,
    write_csv,
    write_json,
)
from aesthetic_inventory.reports.service import month_range


@pytest.mark.parametrize(
    ("usable", "reorder", "status"),
    [(0, 5, OUT_OF_STOCK), (-2, 0, OUT_OF_STOCK), (0, 0, OUT_OF_STOCK), (5, 5, LOW),
     (1, 5, LOW), (6, 5, OK), (1, 0, OK), (3, 2.5, OK), (2, 2.5, LOW)],
)
def test_stock_status_follows_seed_003(usable: int, reorder: float, status: str) -> None:
    assert stock_status(usable, reorder) == status


def test_days_of_cover() -> None:
    assert days_of_cover(30, 90, 90) == 30.0
    assert days_of_cover(10, 45, 90) == 20.0
    assert days_of_cover(10, 0, 90) is None
    assert days_of_cover(-3, 9, 90) == 0.0


def test_classify_sale_like_openemr_inventory_activity() -> None:
    base = {"lot_id": 7, "xfer_inventory_id": 0, "pid": 0, "distributor_id": 0, "fee": 0}
    # transfer: counted on both lots, out of the source, into the destination
    assert classify_sale(**base | {"xfer_inventory_id": 7, "pid": 3, "quantity": -4}) == (
        "transfers", -4)
    assert classify_sale(**base | {"lot_id": 8, "xfer_inventory_id": 7, "quantity": -4}) == (
        "transfers", 4)
    assert classify_sale(**base | {"pid": 3, "fee": 10, "quantity": 2}) == ("sales", -2)
    assert classify_sale(**base | {"distributor_id": 9, "fee": 10, "quantity": 2}) == (
        "distributions", -2)
    assert classify_sale(**base | {"fee": Decimal("12.50"), "quantity": -10}) == (
        "purchases", 10)
    # a purchase row with fee 0 is an adjustment in OpenEMR's report
    assert classify_sale(**base | {"quantity": -10}) == ("adjustments", 10)


@pytest.mark.parametrize("raw", ["0", "-1", "nan", "NaN", "inf", "-Infinity", "abc", "",
                                 "1.23456", "1e9"])
def test_parse_quantity_refuses(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_quantity(raw)


def test_parse_quantity_accepts() -> None:
    assert parse_quantity("1.5") == Decimal("1.5")
    assert str(parse_quantity("2.0000")) == "2"
    assert str(parse_quantity("10")) == "10"
    assert parse_quantity(" 0.0001 ") == Decimal("0.0001")


def test_month_range_includes_empty_months() -> None:
    assert month_range(date(2025, 11, 15), date(2026, 2, 1)) == [
        "2025-11", "2025-12", "2026-01", "2026-02"]


def test_text_csv_json_render_the_same_rows() -> None:
    cols = [Column("Name", "name"), Column("Units", "units", True)]
    rows = [{"name": "Botox", "units": 12}, {"name": "Fillér 1mL", "units": 3}]
    text = list(render_text(cols, rows))
    assert text[0].split() == ["Name", "Units"]
    assert text[2].endswith("12") and text[3].startswith("Fillér 1mL")
    out = io.StringIO()
    write_csv([Section("t", cols, rows)], out)
    assert out.getvalue().splitlines() == ["Name,Units", "Botox,12", "Fillér 1mL,3"]
    out = io.StringIO()
    write_json([Section("t", cols, iter(rows), name="items")], out, {"d": date(2026, 1, 2)})
    data = json.loads(out.getvalue())
    assert data == {"d": "2026-01-02", "items": rows}
    out = io.StringIO()
    write_json([Section("t", cols, [], name="items")], out, {})
    assert json.loads(out.getvalue()) == {"items": []}


def test_stock_chart_has_one_bar_and_one_reorder_tick_per_product() -> None:
    items = [StockBar("A <b>", 3, 5, "LOW"), StockBar("B", 0, 2, "OUT_OF_STOCK"),
             StockBar("C", 40, 10, "OK")]
    svg = stock_vs_reorder_svg(items, title="t")
    assert len(re.findall(r'<rect class="bar"', svg)) == 3
    assert len(re.findall(r'<line class="reorder"', svg)) == 3
    assert "A &lt;b&gt;" in svg and "<b>" not in svg
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_usage_chart_has_one_point_per_month() -> None:
    months = ["2026-01", "2026-02", "2026-03", "2026-04"]
    svg = usage_line_svg(months, [3, 0, 7, 1], title="Botox")
    assert len(re.findall(r'<circle class="point"', svg)) == 4
    assert "<polyline" in svg
    assert "2026-03: 7" in svg
    one = usage_line_svg(["2026-01"], [2], title="x")
    assert len(re.findall(r'<circle class="point"', one)) == 1


def test_text_table_streams_past_its_sample() -> None:
    cols = [Column("Lot", "lot"), Column("On hand", "n", True)]
    rows = ({"lot": f"L{i}", "n": i} for i in range(10))
    lines = list(render_text(cols, rows, sample=3))
    assert len(lines) == 12
    assert lines[0] == "Lot  On hand" and lines[2] == "L0         0"
    assert lines[-1] == "L9         9"
