"""Documents of the stock reports (movement ledger, valuation, reorder), so they take
every format the other reports take (text, csv, json, html) through one writer. Pure:
no SQL, no printing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from operator import attrgetter
from typing import Any

from ..products.domain import PackageSettings, describe_stock
from ..stock.domain import ReorderSuggestion
from ..stock.reads import LedgerRow
from ..stock.views import ValuationLine
from .documents import Document
from .formatting import Column, Section

LEDGER_FIELDS: tuple[str, ...] = (
    "id", "created_at", "movement", "inventory_id", "lot_number", "drug_id", "product",
    "quantity", "unit_cost", "reference_type", "reference_id", "reason", "user", "notes")
LEDGER_MONEY = ("unit_cost",)


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _field(header: str, attribute: str, right: bool = False) -> Column:
    """A column named as in CSV and JSON alike, read from an attribute."""
    return Column(header, header, right, get=attrgetter(attribute))


def _as_text(name: str) -> Callable[[Any], str]:
    return lambda row: str(getattr(row, name))


def ledger_document(rows: Sequence[LedgerRow], *, show_costs: bool) -> Document:
    """The movement ledger; the unit cost only for users allowed to see costs."""
    fields = [f for f in LEDGER_FIELDS if show_costs or f not in LEDGER_MONEY]
    columns = [Column(f, f, f in ("id", "inventory_id", "drug_id", "quantity", "unit_cost"),
                      get=_as_text(f) if f in ("created_at", "unit_cost") else None)
               for f in fields]
    text = []
    for r in rows:
        ref = f"{r.reference_type} {r.reference_id}".strip()
        cost = f" @ {r.unit_cost:>7.2f}" if show_costs else ""
        text.append(f"{str(r.created_at)[:19]}  {r.movement:<8} lot {r.inventory_id:<6} "
                    f"{r.product[:26]:<26} {r.quantity:+5d}{cost}  {ref}"
                    + (f"  {r.reason}" if r.reason else "") + f"  {r.user}")
    text.append(f"{len(rows)} movement(s)")
    return Document("Movement ledger", {"report": "ledger"},
                    [Section("Movements", columns, rows, name="movements")], text=text)


def _units(units: int, drug_id: int | None, packs: Mapping[int, PackageSettings]) -> str:
    """Units in packages and units for a product counted in units, else the number."""
    package = packs.get(drug_id) if drug_id is not None else None
    return str(units) if package is None else describe_stock(units, package)


def valuation_document(lines: Sequence[ValuationLine], *, by: str, today: date,
                       packs: Mapping[int, PackageSettings] | None = None) -> Document:
    """Stock value per product, warehouse or category, with the total; per product the
    text shows the units in packages and units (``packs``: products counted in units)."""
    packs = packs or {}
    units = sum(x.units for x in lines)
    at_average = sum((x.at_average for x in lines), Decimal("0.00"))
    at_lot = sum((x.at_lot_cost for x in lines), Decimal("0.00"))
    columns = [_field(by, "key"), _field("units", "units", True),
               _field("value_at_average", "at_average", True),
               _field("value_at_lot_cost", "at_lot_cost", True),
               _field("average_cost", "average_cost", True),
               _field("last_cost", "last_cost", True)]
    extra = by == "product"
    text = [f"{by:<32} {'units':>7} {'at average':>12} {'at lot cost':>12}"
            + (f" {'avg cost':>9} {'last cost':>9}" if extra else "")]
    for x in lines:
        text.append(f"{x.key[:32]:<32} {_units(x.units, x.drug_id, packs):>7} "
                    f"{_money(x.at_average):>12} "
                    f"{_money(x.at_lot_cost):>12}"
                    + (f" {x.average_cost:>9.2f} {x.last_cost:>9.2f}"
                       if extra and x.average_cost is not None and x.last_cost is not None
                       else ""))
    text.append(f"{'total':<32} {units:>7} {_money(at_average):>12} {_money(at_lot):>12}")
    meta = {"report": "valuation", "date": today, "by": by, "total_units": units,
            "total_at_average": at_average, "total_at_lot_cost": at_lot}
    note = (f"total {units} unit(s): {_money(at_average)} at average cost, "
            f"{_money(at_lot)} at lot cost")
    return Document(f"Stock valuation by {by}", meta,
                    [Section(f"Stock value by {by}", columns, list(lines), [note], "lines")],
                    text=text)


REORDER_COLUMNS = [
    _field("supplier", "supplier"), _field("drug_id", "drug_id", True),
    _field("product", "name"), _field("avg_daily_usage", "average_daily_usage", True),
    _field("safety_stock", "safety_stock", True),
    _field("reorder_point", "reorder_point", True),
    _field("on_hand_and_on_order", "position", True),
    Column("order_now", "order_now", True, get=lambda s: int(s.order_now)),
    _field("packages", "packages", True), _field("units_per_package", "units_per_package", True),
    _field("order_quantity", "order_quantity", True),
]


def reorder_document(suggestions: Sequence[ReorderSuggestion], shown: Sequence[
        ReorderSuggestion], *, days: int, today: date,
        packs: Mapping[int, PackageSettings] | None = None) -> Document:
    """What to order now, per supplier (seed 004 reorder point); the text shows stock
    and reorder points in packages and units (``packs``: products counted in units)."""
    packs = packs or {}
    text: list[str] = []
    supplier = None
    for s in shown:
        if s.supplier != supplier:
            supplier = s.supplier
            text.append(f"{supplier or '(no supplier)'}:")
        what = (f"order {s.packages} x {s.units_per_package} = {s.order_quantity}"
                if s.order_now else "no order")
        text.append(f"  {s.name} (#{s.drug_id}): {s.average_daily_usage:.2f}/day, "
                    f"reorder point {_units(s.reorder_point, s.drug_id, packs)} "
                    f"(safety {_units(s.safety_stock, s.drug_id, packs)}), "
                    f"stock {_units(s.position, s.drug_id, packs)}: {what}")
    to_order = sum(1 for s in suggestions if s.order_now)
    text.append(f"{to_order} product(s) to order (usage over {days} days)")
    return Document("Reorder suggestions", {"report": "reorder", "date": today,
                                            "usage_days": days, "to_order": to_order},
                    [Section("Reorder suggestions", REORDER_COLUMNS, list(shown),
                             name="suggestions")], text=text)
