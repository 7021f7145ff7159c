"""Report services: open a read-only transaction, run the repository's queries and
turn rows into the domain's value types. Nothing here prints."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.engine import Connection, Engine

from ..acl import load_grants
from ..db import connect, existing_tables, require_openemr
from ..errors import InvalidInputError, NotOpenEMRError, PermissionDeniedError
from ..products.domain import PackageSettings
from ..stock.reads import PackageRow
from .domain import (
    ActivityRow,
    LotRow,
    StockRow,
    UsageCell,
    days_of_cover,
    stock_status,
    usage_breakdowns,
)
from .repository import ReportRepository, as_decimal

USAGE_WINDOW_DAYS = 90


@contextmanager
def read_only(engine: Engine) -> Iterator[ReportRepository]:
    """A repository on a read-only, consistent-snapshot transaction that is rolled
    back at the end: a report can never write, and its sections agree with each
    other (REPEATABLE READ for this transaction only; the engine's default stays)."""
    conn: Connection = connect(engine)
    try:
        repo = ReportRepository(conn)
        repo.start_read_only_snapshot()
        yield repo
    finally:
        try:
            conn.rollback()
        finally:
            conn.close()


def parse_product(value: str | None) -> int | str | None:
    """``--product`` takes an id (ASCII digits) or an exact name."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise InvalidInputError("--product must not be empty")
    return int(value) if value.isascii() and value.isdigit() else value


def costs_visible(conn: Connection, user: str | None) -> bool:
    """The one permission check for money (unit costs, values, valuations) in every
    report, page, CSV and JSON: OpenEMR's ACL ``inventory/purchases`` or ``acct/rep_a``
    (:data:`aesthetic_inventory.acl.VIEW_COSTS`) for an OpenEMR user. The command line
    without ``--user`` is the database operator, who reads the cost columns anyway.
    Without OpenEMR's ACL tables nothing can be verified: hidden (fail closed)."""
    if user is None:
        return True
    if not existing_tables(conn, ["gacl_acl"]):
        return False
    return load_grants(conn, user).view_costs


def require_costs(conn: Connection, user: str | None, what: str) -> None:
    """Refuse a report that is all money to a user :func:`costs_visible` denies."""
    if not costs_visible(conn, user):
        raise PermissionDeniedError(
            f"user {user!r} may not see {what}: OpenEMR's access control grants neither "
            "inventory/purchases nor acct/rep_a")


def costs_visible_to(engine: Engine, user: str | None) -> bool:
    """:func:`costs_visible` on a short connection of its own."""
    if user is None:
        return True
    with connect(engine) as conn:
        try:
            return costs_visible(conn, user)
        finally:
            conn.rollback()


def _require_product(repo: ReportRepository, product: int | str | None) -> None:
    if product is not None and not repo.find_products(product):
        raise InvalidInputError(f"no product {product!r} (give a drug id or an exact name)")


Packagings = dict[int, PackageSettings]
PLAIN_PACKAGING = PackageSettings()


def packagings(repo: ReportRepository) -> Packagings:
    """The package of every product counted in units (others print plain counts)."""
    return package_settings(repo.packaged_products())


def package_settings(rows: Iterable[PackageRow]) -> Packagings:
    """Package rows of the stock package as the products' one formatter takes them."""
    return {r.drug_id: PackageSettings(units_per_package=r.units_per_package,
                                       counting_unit=r.counting_unit,
                                       package_unit=r.package_unit) for r in rows}


def lot_row(r: Any, today: date, packs: Packagings | None = None) -> LotRow:
    expiration = r[5]
    return LotRow(
        inventory_id=int(r[0]), drug_id=int(r[1]), product=r[2] or "", warehouse=r[3] or "",
        lot_number=r[4] or "", expiration=expiration,
        days_left=(expiration - today).days if expiration is not None else None,
        on_hand=int(r[6]), expired=bool(r[7]), unit_cost=as_decimal(r[8]),
        packaging=packs.get(int(r[1]), PLAIN_PACKAGING) if packs else PLAIN_PACKAGING,
    )


# -- stock ---------------------------------------------------------------------------
def stock_rows(
    repo: ReportRepository, *, today: date, product: int | str | None = None,
    warehouse: str | None = None,
) -> list[StockRow]:
    """Per product: usable and expired on hand, reorder point, status, cover."""
    _require_product(repo, product)
    if warehouse is not None and not repo.warehouse_exists(warehouse):
        raise InvalidInputError(f"no warehouse {warehouse!r} (give a list_options option_id, "
                                "e.g. onsite)")
    rows = repo.stock_levels(
        today=today, window_start=today - timedelta(days=USAGE_WINDOW_DAYS),
        product=product, warehouse=warehouse,
    )
    out = []
    packs = packagings(repo)
    for r in rows:
        usable, used, reorder = int(r[5]), int(r[7]), float(r[4] or 0)
        out.append(StockRow(
            drug_id=int(r[0]), name=r[1] or "", active=bool(r[2]), dispensable=bool(r[3]),
            usable=usable, expired=int(r[6]), reorder_point=reorder, used_90d=used,
            status=stock_status(usable, reorder),
            days_of_cover=days_of_cover(usable, used, USAGE_WINDOW_DAYS),
            packaging=packs.get(int(r[0]), PLAIN_PACKAGING),
        ))
    return out


def stock_lots(
    repo: ReportRepository, *, today: date, product: int | str | None = None,
    warehouse: str | None = None,
) -> Iterator[LotRow]:
    """Every lot with stock, streamed."""
    packs = packagings(repo)
    for r in repo.lots(today=today, product=product, warehouse=warehouse, costs=False):
        yield lot_row(r, today, packs)


# -- recall --------------------------------------------------------------------------
@dataclass(frozen=True)
class RecallLine:
    """One visit of one patient that received units of one lot."""

    pid: int
    name: str
    dob: date | None
    phone: str
    email: str
    visit_date: date | None
    encounter: int
    units: int
    provider: str
    product: str
    lot_number: str
    inventory_id: int
    expiration: date | None


def _recall_line(r: Any) -> RecallLine:
    phone = " / ".join(p for p in (r[5], r[4]) if p)  # cell first
    return RecallLine(
        pid=int(r[0]), name=" ".join(p for p in (r[1], r[2]) if p), dob=r[3], phone=phone,
        email=r[6] or "", visit_date=r[7], encounter=int(r[8]), units=int(r[9]),
        provider=r[10] or "", product=r[11] or "", lot_number=r[12] or "",
        inventory_id=int(r[13]), expiration=r[14],
    )


@dataclass
class LotRecall:
    """Who received a lot, and where its remaining units are."""

    lot_number: str
    patients: list[RecallLine] = field(default_factory=list)
    lots: list[tuple[LotRow, bool]] = field(default_factory=list)  # (lot, destroyed)

    @property
    def units_given(self) -> int:
        return sum(p.units for p in self.patients)

    @property
    def units_on_hand(self) -> int:
        return sum(lot.on_hand for lot, destroyed in self.lots if not destroyed)


def recall_lot(
    repo: ReportRepository, lot_number: str, *, today: date, product: int | str | None = None
) -> LotRecall:
    """Every patient who kept units of the lot(s) with that number, compared with the
    column's collation as OpenEMR does; and every such lot's remaining stock."""
    if not lot_number.strip():
        raise InvalidInputError("--lot must not be empty")
    _require_product(repo, product)
    recall = LotRecall(lot_number)
    recall.lots = [
        (lot_row(r, today), bool(r[9]))
        for r in repo.lots(today=today, product=product, lot_number=lot_number,
                           include_empty=True)
    ]
    if not recall.lots:
        raise InvalidInputError(f"no lot numbered {lot_number!r}"
                                + (f" for product {product!r}" if product is not None else ""))
    recall.patients = [_recall_line(r) for r in repo.recall_by_lot(lot_number, product)]
    return recall


def recall_patient(repo: ReportRepository, pid: int) -> list[RecallLine]:
    """Every lot the patient kept units of, per visit."""
    if not repo.patient_exists(pid):
        raise InvalidInputError(f"no patient with pid {pid}")
    return [_recall_line(r) for r in repo.recall_by_patient(pid)]


# -- reports -------------------------------------------------------------------------
def expiring_lots(
    repo: ReportRepository, *, today: date, horizon_days: int
) -> list[LotRow]:
    """Lots with stock that expired or expire within the horizon (zero dates too)."""
    by = today + timedelta(days=horizon_days)
    packs = packagings(repo)
    return [lot_row(r, today, packs) for r in repo.lots(today=today, expiring_by=by)]


def activity_rows(
    repo: ReportRepository, *, start: date, end: date, product: int | str | None = None
) -> list[ActivityRow]:
    """OpenEMR's Inventory Activity per product, with start = end - movements."""
    _require_product(repo, product)
    out = []
    for r in repo.activity(start=start, end=end, product=product):
        sales, distributions, purchases, transfers, adjustments = (
            int(as_decimal(v)) for v in r[2:7])
        end_balance = int(as_decimal(r[7]))
        start_balance = end_balance - (sales + distributions + purchases + transfers
                                       + adjustments)
        out.append(ActivityRow(int(r[0]), r[1] or "", start_balance, sales, distributions,
                               purchases, transfers, adjustments, end_balance))
    return out


@dataclass
class UsageReport:
    """Units consumed in a period, four ways."""

    by_product: list[dict[str, Any]]
    by_code: list[dict[str, Any]]
    by_provider: list[dict[str, Any]]
    by_month: list[dict[str, Any]]
    months: list[str]


def month_range(start: date, end: date) -> list[str]:
    """Every month (YYYY-MM) from start to end, so a chart shows empty months too."""
    months, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        months.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def usage_report(repo: ReportRepository, *, start: date, end: date) -> UsageReport:
    """Units per product, per procedure code, per provider and per month, from one
    scan of the period's sales (:meth:`.ReportRepository.usage_cells`)."""
    subtotals: list[UsageCell] = []
    cells: list[UsageCell] = []
    for r in repo.usage_cells(start=start, end=end):
        drug_id, month, provider_id, code_type, code, units, visits, product, provider = r
        if month is None:
            subtotals.append(UsageCell(int(drug_id), product or "", None, 0, "", "", "",
                                       int(units), int(visits)))
        else:
            month = f"{int(month) // 100:04d}-{int(month) % 100:02d}"  # YYYYMM
            cells.append(UsageCell(int(drug_id), product or "", month, int(provider_id),
                                   provider or "", code_type, code, int(units)))
    u = usage_breakdowns(subtotals, cells)
    return UsageReport(u.by_product, u.by_code, u.by_provider, u.by_month,
                       month_range(start, end))


def shortages(repo: ReportRepository) -> list[dict[str, Any]]:
    """Open shortages, one per visit and mapping."""
    return [
        {"product": r[0] or "", "drug_id": int(r[1]), "pid": int(r[2]), "encounter": int(r[3]),
         "visit_date": r[4], "code_type": r[5], "code": r[6], "required": int(r[7]),
         "allocated": int(r[8]), "short": int(r[9])}
        for r in repo.open_shortages()
    ]


def require_migrated(engine: Engine) -> None:
    """Refuse a database that is not OpenEMR or that ``migrate`` has not prepared."""
    with connect(engine) as conn:
        require_openemr(conn)
        missing = sorted({"procedure_products", "aesthetic_inventory_usage", "patient_data"}
                         - existing_tables(conn, ["procedure_products",
                                                  "aesthetic_inventory_usage", "patient_data"]))
        conn.rollback()
    if "patient_data" in missing and len(missing) == 1:
        raise NotOpenEMRError("this is not an OpenEMR database: missing table patient_data")
    if missing:
        raise InvalidInputError(
            "the module is not installed in this database (missing "
            + ", ".join(missing) + "): run 'aesthetic-inventory migrate' first"
        )


def money(value: Decimal) -> str:
    return f"{value:.2f}"
