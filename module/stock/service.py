"""Stock commands as transactions: receive, transfer, adjust, count, destroy, and the
read-only ledger, valuation and reorder reports.

Each command is one unit of work: rows it depends on are locked in the fixed order of
:mod:`.repository`, every check is made under those locks, and a deadlock or lock wait
timeout re-runs the whole transaction (bounded). A refused command writes nothing.
Rows are written as OpenEMR's lot screen writes them (interface/drugs/add_edit_lot.php,
destroy_lot.php), so OpenEMR's own inventory reports classify them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ..db import existing_tables, require_innodb, require_openemr
from ..unit_of_work import UnitOfWorkFactory
from . import domain
from .domain import INT_MAX, CountDifference, CountLine, CountSummary, StockInputError
from .receiving import ReceiptResult, ReceivedLine, receive
from .repository import MODULE_TABLES, LedgerEntry, LotRow, NewPurchase, StockRepository
from .transaction import run_in_transaction, warehouse_choice
from .views import VALUATION_GROUPS, ValuationLine, ledger, reorder, valuation

__all__ = [
    "AdjustResult", "CountResult", "DestroyResult", "ReceiptResult", "ReceivedLine",
    "StockNotMigratedError", "TransferResult", "ValuationLine", "adjust", "count",
    "destroy", "ledger", "preflight", "receive", "reorder", "set_lead_time", "suppliers",
    "transfer", "valuation", "VALUATION_GROUPS",
]



class StockNotMigratedError(StockInputError):
    """The stock tables (version 519) are missing."""


def preflight(uow_factory: UnitOfWorkFactory) -> None:
    """An OpenEMR database with the stock tables and InnoDB stock tables."""
    with uow_factory() as uow:
        require_openemr(uow.connection)
        if len(existing_tables(uow.connection, MODULE_TABLES)) < len(MODULE_TABLES):
            raise StockNotMigratedError(
                "the stock tables are missing: run 'aesthetic-inventory migrate'")
        require_innodb(uow.connection)


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


def _transfer_into(repo: StockRepository, source: LotRow, dest: LotRow | None,
                   to_warehouse: str, quantity: int) -> tuple[int, int]:
    """Add the units to the (locked) destination lot, or open one copying the source's
    lot number, expiry, manufacturer and cost; (lot id, its on hand after)."""
    if dest is None:
        return repo.insert_lot(
            drug_id=source.drug_id, lot_number=source.lot_number,
            expiration=source.expiration, warehouse_id=to_warehouse, on_hand=quantity,
            unit_cost=source.unit_cost, manufacturer=source.manufacturer,
            vendor_id=source.vendor_id, supplier_name=source.supplier_name,
            aesthetic_category=source.aesthetic_category), quantity
    repo.add_to_lot(dest.inventory_id, quantity)
    return dest.inventory_id, dest.on_hand + quantity


def transfer(uow_factory: UnitOfWorkFactory, inventory_id: int, to_warehouse: str, quantity: int,
             *, user: str, today: date, notes: str = "") -> TransferResult:
    """Move ``quantity`` units of a lot to another warehouse, as add_edit_lot.php does:
    one ``drug_sales`` row on the destination lot (trans_type 4, quantity -qty, fee 0,
    xfer_inventory_id = source), the source's on_hand reduced; the destination is the
    newest live lot with the same lot number there, or a new lot copying the source's
    lot number, expiration, manufacturer and cost. Refused below zero."""
    if quantity <= 0:
        raise StockInputError(f"--quantity must be positive, got {quantity}")

    def work(repo: StockRepository) -> TransferResult:
        return transfer_in(repo, inventory_id, to_warehouse, quantity, user=user, today=today,
                           notes=notes)

    return run_in_transaction(uow_factory, work)


def transfer_in(repo: StockRepository, inventory_id: int, to_warehouse: str, quantity: int,
                *, user: str, today: date, notes: str = "") -> TransferResult:
    """The transfer inside the caller's transaction (see :func:`transfer`); the caller
    may hold the product and lot locks already (they are taken again, in order)."""
    peek = _lot_or_error(repo, inventory_id)
    known, _ = warehouse_choice(repo)
    if to_warehouse not in known:
        raise StockInputError(f"no warehouse {to_warehouse!r}")
    if peek.warehouse_id == to_warehouse:
        raise StockInputError(f"lot {inventory_id} is already in warehouse {to_warehouse}")
    repo.lock_products([peek.drug_id])
    # under the product lock no other stock command creates this lot meanwhile
    dest = repo.find_live_lot(peek.drug_id, to_warehouse, peek.lot_number)
    locked = repo.lock_lots([inventory_id] + ([dest.inventory_id] if dest else []))
    dest = locked.get(dest.inventory_id) if dest is not None else None
    if dest is not None and dest.destroyed:
        dest = None  # destroyed meanwhile: a new lot, as OpenEMR would create
    source = locked.get(inventory_id)
    if source is None:
        raise StockInputError(f"no lot {inventory_id}")
    if source.destroyed:
        raise StockInputError(f"lot {inventory_id} is destroyed")
    if source.on_hand < quantity:
        raise StockInputError(
            f"lot {inventory_id} holds {source.on_hand}; cannot transfer {quantity}")
    if dest is not None and dest.on_hand + quantity > INT_MAX:
        raise StockInputError(f"lot {dest.inventory_id} holds {dest.on_hand}; receiving "
                              f"{quantity} would pass {INT_MAX} units")
    dest_id, dest_on_hand = _transfer_into(repo, source, dest, to_warehouse, quantity)
    repo.add_to_lot(inventory_id, -quantity)
    text_notes = notes or f"Transfer from lot {inventory_id} to {to_warehouse}"
    cost = repo.lot_costs([inventory_id]).get(inventory_id, Decimal(0))
    (sale_id,) = repo.insert_sales([NewPurchase(
        source.drug_id, dest_id, user, today, -quantity, Decimal("0.00"),
        domain.TRANS_TRANSFER, text_notes, xfer_inventory_id=inventory_id)])
    repo.insert_ledger([
        LedgerEntry(domain.TRANSFER, inventory_id, source.drug_id, -quantity,
                    cost, "transfer", str(sale_id), user, text_notes,
                    sale_id=sale_id),
        LedgerEntry(domain.TRANSFER, dest_id, source.drug_id, quantity,
                    cost, "transfer", str(sale_id), user, text_notes,
                    sale_id=sale_id),
    ])
    return TransferResult(source, dest_id, dest is None, quantity, sale_id,
                          source.on_hand - quantity, dest_on_hand)


@dataclass(frozen=True)
class AdjustResult:
    inventory_id: int
    before: int
    after: int
    sale_id: int


def adjust(uow_factory: UnitOfWorkFactory, inventory_id: int, by: int, reason: str, *, user: str,
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
        if lot.on_hand + by > INT_MAX:
            raise StockInputError(f"lot {inventory_id} holds {lot.on_hand}; adjusting by {by} "
                                  f"would pass {INT_MAX} units")
        text_notes = f"{reason}: {notes}" if notes else reason
        repo.add_to_lot(inventory_id, by)
        (sale_id,) = repo.insert_sales([NewPurchase(
            lot.drug_id, inventory_id, user, today, -by, Decimal("0.00"),
            domain.TRANS_ADJUSTMENT, text_notes[:domain.NOTES_MAX])])
        cost = repo.lot_costs([inventory_id]).get(inventory_id, Decimal(0))
        repo.insert_ledger([LedgerEntry(domain.ADJUST, inventory_id, lot.drug_id, by, cost,
                                        "adjustment", str(sale_id), user, notes, reason,
                                        sale_id)])
        return AdjustResult(inventory_id, lot.on_hand, lot.on_hand + by, sale_id)

    return run_in_transaction(uow_factory, work)


@dataclass(frozen=True)
class DestroyResult:
    inventory_id: int
    on_hand: int
    destroy_date: date


def destroy(uow_factory: UnitOfWorkFactory, inventory_id: int, *, method: str, witness: str,
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
            domain.DESTROY, inventory_id, lot.drug_id, -lot.on_hand,
            repo.lot_costs([inventory_id]).get(inventory_id, Decimal(0)),
            "destruction", str(inventory_id), user,
            f"{method}; witness {witness}" + (f"; {notes}" if notes else ""))])
        return DestroyResult(inventory_id, lot.on_hand, today)

    return run_in_transaction(uow_factory, work)


# -- count -------------------------------------------------------------------------


@dataclass(frozen=True)
class CountResult:
    count_id: int | None
    dry_run: bool
    differences: tuple[CountDifference, ...]
    summary: CountSummary


def count(uow_factory: UnitOfWorkFactory, lines: Sequence[CountLine], *, user: str, today: date,
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
        costs = repo.lot_costs(locked)
        diffs = domain.count_differences(lines, {
            i: (lot.drug_id, lot.on_hand,
                costs.get(i, Decimal(0)))
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

    return run_in_transaction(uow_factory, work, dry_run=dry_run)


def set_lead_time(uow_factory: UnitOfWorkFactory, supplier: str, days: int) -> None:
    """Record a supplier's delivery lead time (days), used by the reorder report."""
    if not supplier.strip():
        raise StockInputError("--name must not be empty")
    if days < 0:
        raise StockInputError(f"--lead-time-days must not be negative, got {days}")
    run_in_transaction(uow_factory,
                       lambda repo: repo.set_supplier_lead_time(supplier.strip(), days))


def suppliers(uow_factory: UnitOfWorkFactory) -> list[tuple[str, int]]:
    """Suppliers with their lead time (days), by name."""
    with uow_factory() as uow:
        return uow.get(StockRepository).suppliers()
