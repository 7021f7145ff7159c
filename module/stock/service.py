"""Stock commands as transactions: receive, transfer, adjust, count, destroy, and the
read-only ledger, valuation and reorder reports.

Each command is one unit of work: rows it depends on are locked in the fixed order of
:mod:`.repository`, every check is made under those locks, and a deadlock or lock wait
timeout re-runs the whole transaction (bounded). A refused command writes nothing.
Rows are written as OpenEMR's lot screen writes them (interface/drugs/add_edit_lot.php,
destroy_lot.php), so OpenEMR's own inventory reports classify them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.engine import Engine

from ..db import existing_tables, require_innodb, require_openemr
from ..unit_of_work import UnitOfWorkFactory, retry_on_lock_conflict, unit_of_work_factory
from . import domain
from .domain import (
    CENTS,
    CountDifference,
    CountLine,
    CountSummary,
    ProductCost,
    ReceiptLine,
    ReorderInput,
    ReorderSuggestion,
    StockInputError,
)
from .repository import (
    MODULE_TABLES,
    LedgerEntry,
    LedgerRow,
    LotRow,
    NewPurchase,
    StockRepository,
)

UowFactory = UnitOfWorkFactory


class StockNotMigratedError(StockInputError):
    """The stock tables (version 519) are missing."""


def preflight(uow_factory: UowFactory | Engine) -> None:
    """An OpenEMR database with the stock tables and InnoDB stock tables."""
    with unit_of_work_factory(uow_factory)() as uow:
        require_openemr(uow.connection)
        if len(existing_tables(uow.connection, MODULE_TABLES)) < len(MODULE_TABLES):
            raise StockNotMigratedError(
                "the stock tables are missing: run 'aesthetic-inventory migrate'")
        require_innodb(uow.connection)


def _run(uow_factory: UowFactory | Engine, work: Callable[[StockRepository], object],
         *, dry_run: bool = False):  # type: ignore[no-untyped-def]
    """One transaction (re-run whole on a deadlock or lock wait timeout); a dry run
    rolls back."""
    factory = unit_of_work_factory(uow_factory)

    def attempt():  # type: ignore[no-untyped-def]
        with factory() as uow:
            result = work(uow.get(StockRepository))
            if dry_run:
                uow.rollback()
            else:
                uow.commit()
            return result

    return retry_on_lock_conflict(attempt)


def _warehouse_choice(repo: StockRepository, wanted: Sequence[str]) -> tuple[set[str], str]:
    rows = repo.warehouses()
    known = {w for w, _ in rows}
    default = next((w for w, d in rows if d), rows[0][0] if rows else "")
    return known, default


# -- receive -----------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedLine:
    line: int
    drug_id: int
    product: str
    inventory_id: int
    lot_number: str
    warehouse: str
    expires: date
    quantity: int
    unit_cost: Decimal
    new_lot: bool

    @property
    def total_cost(self) -> Decimal:
        return (self.unit_cost * self.quantity).quantize(CENTS, ROUND_HALF_UP)


@dataclass(frozen=True)
class ReceiptResult:
    delivery_id: int | None
    dry_run: bool
    lines: tuple[ReceivedLine, ...]
    costs: dict[int, ProductCost] = field(default_factory=dict)
    product_names: dict[int, str] = field(default_factory=dict)

    @property
    def units(self) -> int:
        return sum(x.quantity for x in self.lines)

    @property
    def total_cost(self) -> Decimal:
        return sum((x.total_cost for x in self.lines), Decimal("0.00"))


def _resolve_products(repo: StockRepository, lines: Sequence[ReceiptLine],
                      ) -> tuple[dict[int, int], list[domain.LineError]]:
    """line index -> drug_id; an unknown or ambiguous product is a line error."""
    ids = {int(x.product) for x in lines if x.product.isdigit()}
    names = {x.product for x in lines if not x.product.isdigit()}
    by_id = repo.products_by_id(ids)
    by_name = repo.products_by_name(names)
    out: dict[int, int] = {}
    errors: list[domain.LineError] = []
    for i, x in enumerate(lines):
        if x.product.isdigit():
            if int(x.product) in by_id:
                out[i] = int(x.product)
            else:
                errors.append(domain.LineError(x.line, "product", f"no product {x.product}"))
            continue
        found = by_name.get(x.product.lower(), [])
        if len(found) == 1:
            out[i] = found[0]
        elif not found:
            errors.append(domain.LineError(x.line, "product", f"no product named {x.product!r}"))
        else:
            errors.append(domain.LineError(
                x.line, "product", f"{len(found)} products are named {x.product!r}; "
                f"use the id ({', '.join(map(str, found))})"))
    return out, errors


def receive(
    uow_factory: UowFactory | Engine,
    lines: Sequence[ReceiptLine],
    *,
    user: str,
    today: date,
    supplier: str = "",
    invoice: str = "",
    source: str = "command line",
    dry_run: bool = False,
    prior_errors: Sequence[domain.LineError] = (),
) -> ReceiptResult:
    """Receive lots (one delivery, all or nothing): a purchase ``drug_sales`` row per
    line (trans_type 2, pid 0, quantity -qty, fee -total cost), the newest live lot of
    the same product, warehouse and lot number reused (else a new ``drug_inventory``
    row), weighted average and last cost per product updated in the same transaction,
    a RECEIVE ledger row per line. ``prior_errors`` (the file's other bad lines) are
    reported together with the lines this check finds, and nothing is written."""
    if not lines and prior_errors:
        raise domain.FileValidationError(source, prior_errors)
    if not lines:
        raise StockInputError("nothing to receive")
    supplier = supplier.strip()

    def work(repo: StockRepository) -> ReceiptResult:
        drug_of, errors = _resolve_products(repo, lines)
        errors += prior_errors
        known, default_wh = _warehouse_choice(repo, [x.warehouse for x in lines])
        errors += [domain.LineError(x.line, "warehouse", f"no warehouse {x.warehouse!r}")
                   for x in lines if x.warehouse and x.warehouse not in known]
        errors.sort(key=lambda e: e.line)
        if errors:
            raise domain.FileValidationError(source, errors)
        drug_ids = set(drug_of.values())
        repo.lock_products(drug_ids)
        names = repo.products_by_id(drug_ids)
        existing: dict[tuple[int, str, str], LotRow] = {}
        for lot in repo.lock_matching_lots(drug_ids, [x.lot_number for x in lines]):
            # ascending ids: the last one kept is the newest, as OpenEMR's DESC LIMIT 1
            existing[(lot.drug_id, lot.warehouse_id, lot.lot_number or "")] = lot
        held = repo.stock_on_hand(drug_ids)
        costs = repo.lock_costs(drug_ids)
        fallback = repo.product_costs_fallback(drug_ids)
        receipts: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
        delivery_id = repo.insert_delivery(supplier=supplier, invoice=invoice, source=source,
                                           user=user)
        notes = f"Delivery {delivery_id}" + (f" from {supplier}" if supplier else "") + (
            f", invoice {invoice}" if invoice else "")
        done: list[ReceivedLine] = []
        sales: list[NewPurchase] = []
        lot_qty: dict[int, int] = {}
        packages: dict[int, int] = {}
        for i, x in enumerate(lines):
            drug_id = drug_of[i]
            warehouse = x.warehouse or default_wh
            key = (drug_id, warehouse, x.lot_number)
            lot = existing.get(key)
            cost = x.unit_cost.quantize(CENTS, ROUND_HALF_UP)
            if lot is None:
                inv = repo.insert_lot(
                    drug_id=drug_id, lot_number=x.lot_number, expiration=x.expires,
                    warehouse_id=warehouse, on_hand=x.quantity, unit_cost=cost,
                    supplier_name=supplier)
                existing[key] = LotRow(inv, drug_id, x.lot_number, x.expires, warehouse,
                                       x.quantity, False, cost)
                lot_qty[inv] = x.quantity
                new = True
            else:
                inv = lot.inventory_id
                before = lot_qty.get(inv, lot.on_hand)
                lot_cost = domain.weighted_average_cost(before, lot.unit_cost, x.quantity,
                                                        x.unit_cost).quantize(CENTS)
                repo.add_to_lot(inv, x.quantity, expiration=x.expires, unit_cost=lot_cost,
                                supplier_name=supplier)
                lot_qty[inv] = max(before, 0) + x.quantity
                new = False
            receipts[drug_id].append((x.quantity, x.unit_cost))
            if x.units_per_package:
                packages[drug_id] = x.units_per_package
            sales.append(NewPurchase(drug_id, inv, user, today, -x.quantity,
                                     -x.total_cost, domain.TRANS_PURCHASE, notes))
            done.append(ReceivedLine(x.line, drug_id, names.get(drug_id, ""), inv,
                                     x.lot_number, warehouse, x.expires, x.quantity,
                                     x.unit_cost, new))
        sale_ids = repo.insert_sales(sales, document=notes)
        repo.insert_ledger([
            LedgerEntry(domain.RECEIVE, d.inventory_id, d.drug_id, d.quantity, d.unit_cost,
                        "delivery", str(delivery_id), user, notes, sale_id=sid)
            for d, sid in zip(done, sale_ids, strict=True)
        ])
        new_costs = {
            drug_id: domain.apply_receipts(
                held.get(drug_id, 0),
                costs.get(drug_id) or ProductCost(fallback.get(drug_id, Decimal(0)),
                                                  fallback.get(drug_id, Decimal(0))),
                items)
            for drug_id, items in receipts.items()
        }
        repo.save_costs(new_costs, packages)
        if supplier:
            repo.ensure_supplier(supplier)
            repo.set_product_supplier_if_empty(drug_ids, supplier)
        result = ReceiptResult(None if dry_run else delivery_id, dry_run, tuple(done),
                               new_costs, names)
        repo.close_delivery(delivery_id, len(done), result.units, result.total_cost)
        return result

    return _run(uow_factory, work, dry_run=dry_run)  # type: ignore[no-any-return]


# -- transfer, adjust, destroy ----------------------------------------------------------


@dataclass(frozen=True)
class TransferResult:
    source: LotRow
    destination_id: int
    new_lot: bool
    quantity: int
    sale_id: int
    source_on_hand: int
    destination_on_hand: int


def _lot_or_error(repo: StockRepository, inventory_id: int) -> LotRow:
    lot = repo.lot(inventory_id)
    if lot is None:
        raise StockInputError(f"no lot {inventory_id}")
    return lot


def transfer(uow_factory: UowFactory | Engine, inventory_id: int, to_warehouse: str, quantity: int,
             *, user: str, today: date, notes: str = "") -> TransferResult:
    """Move ``quantity`` units of a lot to another warehouse, as add_edit_lot.php does:
    one ``drug_sales`` row on the destination lot (trans_type 4, quantity -qty, fee 0,
    xfer_inventory_id = source), the source's on_hand reduced; the destination is the
    newest live lot with the same lot number there, or a new lot copying the source's
    lot number, expiration, manufacturer and cost. Refused below zero."""
    if quantity <= 0:
        raise StockInputError(f"--quantity must be positive, got {quantity}")

    def work(repo: StockRepository) -> TransferResult:
        peek = _lot_or_error(repo, inventory_id)
        known, _ = _warehouse_choice(repo, [to_warehouse])
        if to_warehouse not in known:
            raise StockInputError(f"no warehouse {to_warehouse!r}")
        if peek.warehouse_id == to_warehouse:
            raise StockInputError(f"lot {inventory_id} is already in warehouse {to_warehouse}")
        repo.lock_products([peek.drug_id])
        # under the product lock no other stock command creates this lot meanwhile
        dest = repo.find_live_lot(peek.drug_id, to_warehouse, peek.lot_number)
        locked = repo.lock_lots([inventory_id] + ([dest.inventory_id] if dest else []))
        if dest is not None and (dest.inventory_id not in locked
                                 or locked[dest.inventory_id].destroyed):
            dest = None  # destroyed meanwhile: a new lot, as OpenEMR would create
        source = locked.get(inventory_id)
        if source is None:
            raise StockInputError(f"no lot {inventory_id}")
        if source.destroyed:
            raise StockInputError(f"lot {inventory_id} is destroyed")
        if source.on_hand < quantity:
            raise StockInputError(
                f"lot {inventory_id} holds {source.on_hand}; cannot transfer {quantity}")
        if dest is None:
            dest_id = repo.insert_lot(
                drug_id=source.drug_id, lot_number=source.lot_number,
                expiration=source.expiration, warehouse_id=to_warehouse, on_hand=quantity,
                unit_cost=source.unit_cost, manufacturer=source.manufacturer,
                vendor_id=source.vendor_id, supplier_name=source.supplier_name,
                aesthetic_category=source.aesthetic_category)
            dest_on_hand = quantity
        else:
            dest_id = dest.inventory_id
            repo.add_to_lot(dest_id, quantity)
            dest_on_hand = locked[dest_id].on_hand + quantity
        repo.add_to_lot(inventory_id, -quantity)
        text_notes = notes or f"Transfer from lot {inventory_id} to {to_warehouse}"
        (sale_id,) = repo.insert_sales([NewPurchase(
            source.drug_id, dest_id, user, today, -quantity, Decimal("0.00"),
            domain.TRANS_TRANSFER, text_notes, xfer_inventory_id=inventory_id)])
        repo.insert_ledger([
            LedgerEntry(domain.TRANSFER, inventory_id, source.drug_id, -quantity,
                        source.unit_cost, "transfer", str(sale_id), user, text_notes,
                        sale_id=sale_id),
            LedgerEntry(domain.TRANSFER, dest_id, source.drug_id, quantity,
                        source.unit_cost, "transfer", str(sale_id), user, text_notes,
                        sale_id=sale_id),
        ])
        return TransferResult(source, dest_id, dest is None, quantity, sale_id,
                              source.on_hand - quantity, dest_on_hand)

    return _run(uow_factory, work)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AdjustResult:
    inventory_id: int
    before: int
    after: int
    sale_id: int


def adjust(uow_factory: UowFactory | Engine, inventory_id: int, by: int, reason: str, *, user: str,
           today: date, notes: str = "") -> AdjustResult:
    """Change a lot's on_hand by a signed amount: a ``drug_sales`` adjustment
    (trans_type 5, quantity = -change, fee 0) and an ADJUST ledger row with the reason.
    Refused when the lot would go below zero."""
    reason = reason.upper()
    if reason not in domain.ADJUST_REASONS:
        raise StockInputError(
            f"--reason must be one of {', '.join(domain.ADJUST_REASONS)}, got {reason!r}")
    if by == 0:
        raise StockInputError("--by must not be 0")

    def work(repo: StockRepository) -> AdjustResult:
        lot = repo.lock_lots([inventory_id]).get(inventory_id)
        if lot is None:
            raise StockInputError(f"no lot {inventory_id}")
        if lot.destroyed:
            raise StockInputError(f"lot {inventory_id} is destroyed")
        if lot.on_hand + by < 0:
            raise StockInputError(
                f"lot {inventory_id} holds {lot.on_hand}; adjusting by {by} would go below zero")
        text_notes = f"{reason}: {notes}" if notes else reason
        repo.add_to_lot(inventory_id, by)
        (sale_id,) = repo.insert_sales([NewPurchase(
            lot.drug_id, inventory_id, user, today, -by, Decimal("0.00"),
            domain.TRANS_ADJUSTMENT, text_notes[:domain.NOTES_MAX])])
        cost = lot.unit_cost or repo.average_costs([lot.drug_id]).get(lot.drug_id, Decimal(0))
        repo.insert_ledger([LedgerEntry(domain.ADJUST, inventory_id, lot.drug_id, by, cost,
                                        "adjustment", str(sale_id), user, notes, reason,
                                        sale_id)])
        return AdjustResult(inventory_id, lot.on_hand, lot.on_hand + by, sale_id)

    return _run(uow_factory, work)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class DestroyResult:
    inventory_id: int
    on_hand: int
    destroy_date: date


def destroy(uow_factory: UowFactory | Engine, inventory_id: int, *, method: str, witness: str,
            user: str, today: date, notes: str = "") -> DestroyResult:
    """Destroy a lot as destroy_lot.php does (destroy_date, method, witness, notes; no
    sale row, on_hand kept: OpenEMR's reports read the destruction from the lot), plus
    a DESTROY ledger row taking its on_hand out of usable stock."""
    method, witness = method.strip(), witness.strip()
    if not method:
        raise StockInputError("--method must not be empty")
    if not witness:
        raise StockInputError("--witness must not be empty")

    def work(repo: StockRepository) -> DestroyResult:
        lot = repo.lock_lots([inventory_id]).get(inventory_id)
        if lot is None:
            raise StockInputError(f"no lot {inventory_id}")
        if lot.destroyed:
            raise StockInputError(f"lot {inventory_id} is already destroyed")
        repo.destroy_lot(inventory_id, when=today, method=method[:255], witness=witness[:255],
                         notes=notes[:255])
        repo.insert_ledger([LedgerEntry(
            domain.DESTROY, inventory_id, lot.drug_id, -lot.on_hand, lot.unit_cost,
            "destruction", str(inventory_id), user,
            f"{method}; witness {witness}" + (f"; {notes}" if notes else ""))])
        return DestroyResult(inventory_id, lot.on_hand, today)

    return _run(uow_factory, work)  # type: ignore[no-any-return]


# -- count -------------------------------------------------------------------------


@dataclass(frozen=True)
class CountResult:
    count_id: int | None
    dry_run: bool
    differences: tuple[CountDifference, ...]
    summary: CountSummary


def count(uow_factory: UowFactory | Engine, lines: Sequence[CountLine], *, user: str, today: date,
          source: str = "count", dry_run: bool = False) -> CountResult:
    """A stock take: lock every counted lot (ascending inventory_id), one adjustment
    (trans_type 5, reason COUNT) per lot whose count differs, a summary of variances
    valued at lot cost (else the product's average cost). All or nothing."""
    if not lines:
        raise StockInputError("nothing counted")

    def work(repo: StockRepository) -> CountResult:
        locked = repo.lock_lots(c.inventory_id for c in lines)
        errors = [domain.LineError(c.line, "lot_id", f"no lot {c.inventory_id}")
                  for c in lines if c.inventory_id not in locked]
        errors += [domain.LineError(c.line, "lot_id", f"lot {c.inventory_id} is destroyed")
                   for c in lines if c.inventory_id in locked and locked[c.inventory_id].destroyed]
        if errors:
            raise domain.FileValidationError(source, errors)
        averages = repo.average_costs({lot.drug_id for lot in locked.values()})
        diffs = domain.count_differences(lines, {
            i: (lot.drug_id, lot.on_hand,
                lot.unit_cost or averages.get(lot.drug_id, Decimal(0)))
            for i, lot in locked.items()})
        summary = domain.summarize_count(diffs)
        count_id = repo.insert_count(source=source, user=user)
        changed = [d for d in diffs if d.difference]
        notes = {c.inventory_id: c.notes for c in lines}
        document = f"COUNT: stock take {count_id}"
        note_of = {d.inventory_id: (document
                                    + (f", {notes[d.inventory_id]}" if notes[d.inventory_id]
                                       else ""))[:domain.NOTES_MAX] for d in changed}
        repo.set_on_hand({d.inventory_id: d.counted for d in changed})
        sale_ids = repo.insert_sales([NewPurchase(
            d.drug_id, d.inventory_id, user, today, -d.difference, Decimal("0.00"),
            domain.TRANS_ADJUSTMENT, note_of[d.inventory_id]) for d in changed],
            document=document)
        repo.insert_ledger([
            LedgerEntry(domain.ADJUST, d.inventory_id, d.drug_id, d.difference, d.unit_cost,
                        "count", str(count_id), user, notes[d.inventory_id], "COUNT", sid)
            for d, sid in zip(changed, sale_ids, strict=True)])
        repo.close_count(count_id, summary.lots, summary.adjusted, summary.net_units,
                         summary.net_value)
        return CountResult(None if dry_run else count_id, dry_run, tuple(diffs), summary)

    return _run(uow_factory, work, dry_run=dry_run)  # type: ignore[no-any-return]


# -- reports -------------------------------------------------------------------------


def ledger(uow_factory: UowFactory | Engine, *, drug_id: int | None = None,
           inventory_id: int | None = None, since: date | None = None,
           until: date | None = None, limit: int = 10000) -> list[LedgerRow]:
    """Movement ledger rows, oldest first."""
    with unit_of_work_factory(uow_factory)() as uow:
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


def valuation(uow_factory: UowFactory | Engine, *, by: str = "product",
              today: date | None = None) -> list[ValuationLine]:
    """Stock on hand (lots not destroyed) valued at each product's weighted average cost
    and at each lot's own cost, grouped by product, warehouse or category."""
    if by not in ("product", "warehouse", "category"):
        raise StockInputError(f"--by must be product, warehouse or category, got {by!r}")
    with unit_of_work_factory(uow_factory)() as uow:
        rows = uow.get(StockRepository).valuation_rows(today or date.today())
    groups: dict[str, list[Decimal | int]] = {}
    costs: dict[str, tuple[Decimal, Decimal]] = {}
    for drug_id, name, category, warehouse, on_hand, lot_cost, avg, last in rows:
        key = {"product": f"{name} (#{drug_id})", "warehouse": warehouse or "(none)",
               "category": category or "(none)"}[by]
        g = groups.setdefault(key, [0, Decimal("0.00"), Decimal("0.00")])
        g[0] = int(g[0]) + int(on_hand)
        g[1] = Decimal(g[1]) + Decimal(str(avg)) * int(on_hand)
        g[2] = Decimal(g[2]) + Decimal(str(lot_cost)) * int(on_hand)
        costs[key] = (Decimal(str(avg)), Decimal(str(last)))
    return [
        ValuationLine(k, int(g[0]), Decimal(g[1]).quantize(CENTS, ROUND_HALF_UP),
                      Decimal(g[2]).quantize(CENTS, ROUND_HALF_UP),
                      *(costs[k] if by == "product" else (None, None)))
        for k, g in groups.items()
    ]


def reorder(uow_factory: UowFactory | Engine, *, days: int = 90, today: date | None = None,
            apply: bool = False, default_lead_time: int = domain.DEFAULT_LEAD_TIME_DAYS,
            ) -> tuple[list[ReorderSuggestion], int]:
    """Reorder suggestions for every active, dispensable product (seed 004 formula), and
    with ``apply`` the computed reorder points written to ``drugs.reorder_point`` (the
    low-stock alert's threshold). Returns the suggestions and the number of products
    whose reorder point changed (or would change)."""
    if days <= 0:
        raise StockInputError(f"--days must be positive, got {days}")
    today = today or date.today()

    def work(repo: StockRepository) -> tuple[list[ReorderSuggestion], int]:
        rows = repo.reorder_rows(today - timedelta(days=days - 1), today)
        suggestions = [domain.reorder_suggestion(ReorderInput(
            drug_id=int(r[0]), name=str(r[1]), supplier=str(r[2] or ""), used=int(r[3]),
            window_days=days, lead_time_days=int(r[10]) if r[10] is not None
            else default_lead_time, on_hand=int(r[4]), on_order=int(r[5] or 0),
            max_level=int(r[6] or 0), min_level=None if r[7] is None else int(r[7]),
            units_per_package=int(r[8]), current_reorder_point=int(r[9] or 0),
        )) for r in rows]
        # a product without usage or min level keeps the point an admin may have set
        points = {s.drug_id: s.reorder_point for s in suggestions
                  if s.reorder_point > 0 and s.reorder_point != s.current_reorder_point}
        if apply:
            repo.set_reorder_points(points)
        return suggestions, len(points)

    return _run(uow_factory, work, dry_run=not apply)  # type: ignore[no-any-return]


def set_lead_time(uow_factory: UowFactory | Engine, supplier: str, days: int) -> None:
    """Record a supplier's delivery lead time (days), used by the reorder report."""
    if not supplier.strip():
        raise StockInputError("--name must not be empty")
    if days < 0:
        raise StockInputError(f"--lead-time-days must not be negative, got {days}")
    _run(uow_factory, lambda repo: repo.set_supplier_lead_time(supplier.strip(), days))


def suppliers(uow_factory: UowFactory | Engine) -> list[tuple[str, int]]:
    with unit_of_work_factory(uow_factory)() as uow:
        return uow.get(StockRepository).suppliers()
