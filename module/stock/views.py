"""Read-only stock reports: the movement ledger, the valuation and reorder
suggestions (the last may write reorder points with ``apply``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from ..unit_of_work import UnitOfWorkFactory
from . import domain
from .domain import CENTS, ReorderInput, ReorderSuggestion, StockInputError
from .reads import LedgerRow, PackageRow, ValuationRow
from .repository import StockRepository
from .transaction import run_in_transaction

VALUATION_GROUPS: tuple[str, ...] = ("product", "warehouse", "category")


def ledger(uow_factory: UnitOfWorkFactory, *, drug_id: int | None = None,
           inventory_id: int | None = None, since: date | None = None,
           until: date | None = None, limit: int = 10000) -> list[LedgerRow]:
    """Movement ledger rows, oldest first."""
    with uow_factory() as uow:
        return uow.get(StockRepository).ledger_rows(
            drug_id=drug_id, inventory_id=inventory_id, since=since, until=until, limit=limit)


@dataclass(frozen=True)
class ValuationLine:
    key: str
    units: int
    at_average: Decimal
    at_lot_cost: Decimal
    average_cost: Decimal | None = None
    last_cost: Decimal | None = None
    drug_id: int | None = None  # grouped by product


def _group_key(row: ValuationRow, by: str) -> str:
    if by == "product":
        return f"{row.name} (#{row.drug_id})"
    if by == "warehouse":
        return row.warehouse or "(none)"
    return row.category or "(none)"


def value_lines(rows: list[ValuationRow], by: str) -> list[ValuationLine]:
    """Group lots by product, warehouse or category. Each lot's value is rounded to
    the cent first, so every grouping's total is the same sum of the same cents."""
    groups: dict[str, tuple[int, Decimal, Decimal]] = {}
    costs: dict[str, tuple[Decimal, Decimal]] = {}
    products: dict[str, int] = {}
    for r in rows:
        products[_group_key(r, by)] = r.drug_id
        key = _group_key(r, by)
        units, at_average, at_lot = groups.get(key, (0, Decimal("0.00"), Decimal("0.00")))
        groups[key] = (units + r.on_hand,
                       at_average + (r.average_cost * r.on_hand).quantize(CENTS, ROUND_HALF_UP),
                       at_lot + (r.lot_cost * r.on_hand).quantize(CENTS, ROUND_HALF_UP))
        costs[key] = (r.average_cost, r.last_cost)
    if by != "product":
        return [ValuationLine(k, units, at_average, at_lot)
                for k, (units, at_average, at_lot) in groups.items()]
    return [ValuationLine(k, units, at_average, at_lot, costs[k][0], costs[k][1], products[k])
            for k, (units, at_average, at_lot) in groups.items()]


def packages(uow_factory: UnitOfWorkFactory) -> list[PackageRow]:
    """The products counted in units, for reports that show stock in packages."""
    with uow_factory() as uow:
        return uow.get(StockRepository).packaged_products()


def valuation(uow_factory: UnitOfWorkFactory, *, by: str = "product",
              today: date | None = None) -> list[ValuationLine]:
    """Stock held (lots not destroyed) valued at each product's weighted average cost
    and at each lot's own cost (0 falling back as everywhere: :mod:`.usable`), grouped
    by product, warehouse or category."""
    if by not in VALUATION_GROUPS:
        raise StockInputError(f"--by must be product, warehouse or category, got {by!r}")
    with uow_factory() as uow:
        rows = uow.get(StockRepository).valuation_rows()
    return value_lines(rows, by)


def reorder(uow_factory: UnitOfWorkFactory, *, days: int = 90,
            today: date | None = None, apply: bool = False,
            default_lead_time: int = domain.DEFAULT_LEAD_TIME_DAYS,
            ) -> tuple[list[ReorderSuggestion], int]:
    """Reorder suggestions for every active, dispensable product (seed 004 formula), and
    with ``apply`` the computed reorder points written to ``drugs.reorder_point`` (the
    low-stock alert's threshold). Returns the suggestions and the number of products
    whose reorder point changed (or would change)."""
    if days <= 0:
        raise StockInputError(f"--days must be positive, got {days}")
    when = today or date.today()

    def work(repo: StockRepository) -> tuple[list[ReorderSuggestion], int]:
        suggestions = [domain.reorder_suggestion(ReorderInput(
            drug_id=r.drug_id, name=r.name, supplier=r.supplier, used=r.used,
            window_days=days, lead_time_days=r.lead_time_days if r.lead_time_days is not None
            else default_lead_time, on_hand=r.usable, on_order=r.on_order,
            max_level=r.max_level, min_level=r.min_level,
            units_per_package=r.units_per_package, current_reorder_point=r.reorder_point,
        )) for r in repo.reorder_rows(when - timedelta(days=days - 1), when)]
        # a product without usage or min level keeps the point an admin may have set
        points = {s.drug_id: s.reorder_point for s in suggestions
                  if s.reorder_point > 0 and s.reorder_point != s.current_reorder_point}
        if apply:
            repo.set_reorder_points(points)
        return suggestions, len(points)

    return run_in_transaction(uow_factory, work, dry_run=not apply)
