"""Pure parts added for issue 21 and 18: the usage report's four breakdowns from one
scan's cells, and stock in packages and units in the stock documents' human columns
(CSV and JSON keep the plain counts plus a text field)."""

from __future__ import annotations

import io
import json
from datetime import date

from aesthetic_inventory.products.domain import PackageSettings
from aesthetic_inventory.reports.documents import stock_document
from aesthetic_inventory.reports.domain import LotRow, StockRow, UsageCell, usage_breakdowns
from aesthetic_inventory.reports.formatting import render_sections_text, write_csv, write_json

BOTOX = PackageSettings(units_per_package=100, counting_unit="U", package_unit="vial")


def _cell(drug: int, product: str, month: str, provider: int, name: str, code: str,
          units: int) -> UsageCell:
    return UsageCell(drug, product, month, provider, name, "CPT4" if code else "", code, units)


def test_breakdowns_sum_the_finest_cells_and_drop_groups_netting_to_zero() -> None:
    cells = [
        _cell(1, "Botox", "2026-01", 7, "Anna Smith", "15828", 4),
        _cell(1, "Botox", "2026-02", 7, "Anna Smith", "15828", 2),
        _cell(1, "Botox", "2026-02", 8, "Bo Jones", "", 3),
        _cell(2, "Filler", "2026-02", 8, "Bo Jones", "11950", 5),
        _cell(3, "Peel", "2026-01", 0, "", "", 2),
        _cell(3, "Peel", "2026-02", 0, "", "", -2),  # returned: nets to zero overall
    ]
    subtotals = [UsageCell(1, "Botox", None, 0, "", "", "", 9, visits=3),
                 UsageCell(2, "Filler", None, 0, "", "", "", 5, visits=1),
                 UsageCell(3, "Peel", None, 0, "", "", "", 0, visits=1)]
    u = usage_breakdowns(subtotals, cells)
    assert u.by_product == [{"drug_id": 1, "product": "Botox", "units": 9, "visits": 3},
                            {"drug_id": 2, "product": "Filler", "units": 5, "visits": 1}]
    assert [(r["code_type"], r["code"], r["product"], r["units"]) for r in u.by_code] == [
        ("", "(not from a mapping)", "Botox", 3), ("CPT4", "11950", "Filler", 5),
        ("CPT4", "15828", "Botox", 6)]
    assert [(r["provider"], r["product"], r["units"]) for r in u.by_provider] == [
        ("Anna Smith", "Botox", 6), ("Bo Jones", "Filler", 5), ("Bo Jones", "Botox", 3)]
    assert [(r["month"], r["product"], r["units"]) for r in u.by_month] == [
        ("2026-01", "Botox", 4), ("2026-02", "Botox", 5), ("2026-02", "Filler", 5),
        ("2026-01", "Peel", 2), ("2026-02", "Peel", -2)]


def _stock(name: str, usable: int, reorder: float, packaging: PackageSettings) -> StockRow:
    return StockRow(drug_id=len(name), name=name, active=True, dispensable=True,
                    usable=usable, expired=0, reorder_point=reorder, used_90d=0,
                    status="LOW", days_of_cover=None, packaging=packaging)


def test_stock_listing_shows_packages_and_units_to_people_plain_counts_to_machines() -> None:
    rows = [_stock("Botox", 140, 300, BOTOX), _stock("Gauze", 12, 5, PackageSettings())]
    lots = [LotRow(9, 6, "Botox", "Main", "B1", date(2027, 1, 1), 30, 140, False,
                   packaging=BOTOX)]
    doc = stock_document(rows, lots, today=date(2026, 12, 2))
    text = "\n".join(render_sections_text(doc.sections))
    botox = next(line for line in text.splitlines() if "Botox" in line and "LOW" in line)
    assert "1 vial + 40 U" in botox and "3 vial" in botox
    gauze = next(line for line in text.splitlines() if "Gauze" in line)
    assert gauze.split()[:5] == ["5", "Gauze", "12", "0", "5"]  # as before issue 18
    lot = next(line for line in text.splitlines() if "B1" in line)
    assert lot.endswith("1 vial + 40 U")
    out = io.StringIO()
    write_json(doc.sections, out, doc.meta)
    data = json.loads(out.getvalue())
    assert data["products"][0]["usable"] == 140
    assert data["products"][0]["usable_stock"] == "1 vial + 40 U"
    assert data["products"][1]["usable_stock"] == "12"
    assert (data["lots"][0]["on_hand"], data["lots"][0]["stock"]) == (140, "1 vial + 40 U")
    out = io.StringIO()
    write_csv(doc.sections[:1], out)
    header, first = out.getvalue().splitlines()[:2]
    assert header.endswith("Usable stock,Reorder pt stock")
    assert first.startswith("5,Botox,140,0,300,LOW") and first.endswith("1 vial + 40 U,3 vial")
