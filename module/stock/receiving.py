"""``receive``: one delivery (one lot from the command line, or a supplier's CSV) as one
transaction, written as OpenEMR's lot screen writes a purchase
(interface/drugs/add_edit_lot.php). Every line is checked before anything is written:
products, warehouses, a lot number already held with another expiry, and totals the
columns cannot hold are each reported with their line and column.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from ..unit_of_work import UnitOfWorkFactory
from . import domain
from .domain import CENTS, INT_MAX, FileValidationError, LineError, ProductCost, ReceiptLine
from .inputs import is_whole_number
from .repository import LedgerEntry, LotRow, NewPurchase, StockRepository
from .transaction import run_in_transaction, warehouse_choice

DELIVERY_TOTAL_MAX = Decimal("999999999999.99")  # aesthetic_inventory_delivery.total_cost

LotKey = tuple[int, str, str]  # drug_id, warehouse, lot number (case-folded, as SQL compares)


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


def _product_id(text: str) -> int | None:
    return int(text) if is_whole_number(text) else None


def _resolve_products(repo: StockRepository, lines: Sequence[ReceiptLine],
                      ) -> tuple[dict[int, int], list[LineError]]:
    """line index -> drug_id; an unknown or ambiguous product is a line error."""
    ids = {i for i in (_product_id(x.product) for x in lines) if i is not None}
    by_id = repo.products_by_id(ids)
    by_name = repo.products_by_name(x.product for x in lines if _product_id(x.product) is None)
    out: dict[int, int] = {}
    errors: list[LineError] = []
    for i, x in enumerate(lines):
        wanted = _product_id(x.product)
        if wanted is not None:
            if wanted in by_id:
                out[i] = wanted
            else:
                errors.append(LineError(x.line, "product", f"no product {x.product}"))
            continue
        found = by_name.get(x.product.lower(), [])
        if len(found) == 1:
            out[i] = found[0]
        elif not found:
            errors.append(LineError(x.line, "product", f"no product named {x.product!r}"))
        else:
            errors.append(LineError(
                x.line, "product", f"{len(found)} products are named {x.product!r}; "
                f"use the id ({', '.join(map(str, found))})"))
    return out, errors


def _same_lot_other_expiry(lines: Sequence[ReceiptLine], keys: Sequence[LotKey],
                           existing: dict[LotKey, LotRow],
                           held: Sequence[LotRow]) -> list[LineError]:
    """A lot number has one expiry: a line is refused when the lot it adds to, or
    (for a new lot) every held lot of that product and number in any warehouse, or an
    earlier line's lot, has another expiry, instead of re-dating the units already held
    (the expiry alerts would miss them, FEFO order would change)."""
    known: dict[tuple[int, str], dict[date, str]] = {}
    for lot in held:
        if lot.expiration is not None and lot.lot_number:
            known.setdefault((lot.drug_id, lot.lot_number.lower()), {}).setdefault(
                lot.expiration, f"lot {lot.inventory_id} holds it")
    errors: list[LineError] = []
    for x, key in zip(lines, keys, strict=True):
        target = existing.get(key)
        allowed = ({target.expiration: f"lot {target.inventory_id} holds it"}
                   if target is not None and target.expiration is not None
                   else known.get((key[0], key[2]), {}))
        if allowed and x.expires not in allowed:
            expiry, where = next(iter(allowed.items()))
            errors.append(LineError(
                x.line, "expires", f"lot {x.lot_number} expires {expiry.isoformat()} "
                f"({where}), not {x.expires.isoformat()}: a lot number has one expiry; "
                "check the label"))
        elif not allowed:
            known[(key[0], key[2])] = {x.expires: f"line {x.line}" if x.line else "given"}
    return errors


def _totals_too_large(lines: Sequence[ReceiptLine], keys: Sequence[LotKey],
                      existing: dict[LotKey, LotRow]) -> list[LineError]:
    """Sums the int(11) and decimal columns cannot hold: a lot's on hand, the
    delivery's units and total cost."""
    errors: list[LineError] = []
    held: dict[LotKey, int] = {}
    units, total = 0, Decimal(0)
    for x, key in zip(lines, keys, strict=True):
        lot = existing.get(key)
        held[key] = held.get(key, lot.on_hand if lot else 0) + x.quantity
        units += x.quantity
        total += x.total_cost
        if held[key] > INT_MAX:
            errors.append(LineError(x.line, "quantity", f"lot {x.lot_number} would hold "
                                                        f"{held[key]} units (at most {INT_MAX})"))
        elif units > INT_MAX:
            errors.append(LineError(x.line, "quantity", f"the delivery would total {units} "
                                                        f"units (at most {INT_MAX})"))
        elif total > DELIVERY_TOTAL_MAX:
            errors.append(LineError(x.line, "unit_cost", f"the delivery would cost {total} "
                                                         f"(at most {DELIVERY_TOTAL_MAX})"))
    return errors


def _check_lines(repo: StockRepository, lines: Sequence[ReceiptLine],
                 ) -> tuple[dict[int, int], str, list[LineError]]:
    """Products and warehouses of every line: line index -> drug_id of the lines that
    passed, the default warehouse, the problems of the others."""
    drug_of, errors = _resolve_products(repo, lines)
    known, default_wh = warehouse_choice(repo)
    for i, x in enumerate(lines):
        if x.warehouse and x.warehouse not in known:
            errors.append(LineError(x.line, "warehouse", f"no warehouse {x.warehouse!r}"))
            drug_of.pop(i, None)
    return drug_of, default_wh, errors


@dataclass
class _Delivery:
    """The working state of one delivery inside its transaction."""

    repo: StockRepository
    user: str
    today: date
    supplier: str
    notes: str
    existing: dict[LotKey, LotRow]
    lot_qty: dict[int, int] = field(default_factory=dict)

    def receive_line(self, x: ReceiptLine, drug_id: int, key: LotKey,
                     name: str) -> tuple[ReceivedLine, NewPurchase]:
        """Add the line to the newest live lot with its number, or open a new lot."""
        lot = self.existing.get(key)
        cost = x.unit_cost.quantize(CENTS, ROUND_HALF_UP)
        if lot is None:
            inv = self.repo.insert_lot(
                drug_id=drug_id, lot_number=x.lot_number, expiration=x.expires,
                warehouse_id=key[1], on_hand=x.quantity, unit_cost=cost,
                supplier_name=self.supplier)
            self.existing[key] = LotRow(inv, drug_id, x.lot_number, x.expires, key[1],
                                        x.quantity, False, cost)
            self.lot_qty[inv] = x.quantity
        else:
            inv = lot.inventory_id
            before = self.lot_qty.get(inv, lot.on_hand)
            lot_cost = domain.weighted_average_cost(before, lot.unit_cost, x.quantity,
                                                    x.unit_cost).quantize(CENTS)
            self.repo.add_to_lot(inv, x.quantity, expiration=x.expires, unit_cost=lot_cost,
                                 supplier_name=self.supplier)
            self.lot_qty[inv] = max(before, 0) + x.quantity
        sale = NewPurchase(drug_id, inv, self.user, self.today, -x.quantity, -x.total_cost,
                           domain.TRANS_PURCHASE, self.notes)
        return (ReceivedLine(x.line, drug_id, name, inv, x.lot_number, key[1], x.expires,
                             x.quantity, x.unit_cost, lot is None), sale)


def _new_costs(repo: StockRepository, done: Sequence[ReceivedLine],
               held: dict[int, int]) -> dict[int, ProductCost]:
    """Weighted average and last cost per product after the delivery (seed 004)."""
    receipts: dict[int, list[tuple[int, Decimal]]] = defaultdict(list)
    for d in done:
        receipts[d.drug_id].append((d.quantity, d.unit_cost))
    costs = repo.lock_costs(receipts)
    fallback = repo.product_costs_fallback(receipts)
    return {
        drug_id: domain.apply_receipts(
            held.get(drug_id, 0),
            costs.get(drug_id) or ProductCost(fallback.get(drug_id, Decimal(0)),
                                              fallback.get(drug_id, Decimal(0))),
            items)
        for drug_id, items in receipts.items()
    }


def _receive_all(repo: StockRepository, lines: Sequence[ReceiptLine], *, user: str,
                 today: date, supplier: str, invoice: str, source: str, dry_run: bool,
                 prior_errors: Sequence[LineError]) -> ReceiptResult:
    drug_of, default_wh, errors = _check_lines(repo, lines)
    drug_ids = set(drug_of.values())
    repo.lock_products(drug_ids)
    names = repo.products_by_id(drug_ids)
    matching = repo.lock_matching_lots(drug_ids, [x.lot_number for x in lines])
    existing: dict[LotKey, LotRow] = {}
    for lot in matching:
        # ascending ids: the last one kept is the newest, as OpenEMR's DESC LIMIT 1
        existing[(lot.drug_id, lot.warehouse_id, (lot.lot_number or "").lower())] = lot
    # the checks below see the lines whose product and warehouse are known
    known = [i for i in range(len(lines)) if i in drug_of]
    checked = [lines[i] for i in known]
    keys = [(drug_of[i], lines[i].warehouse or default_wh, lines[i].lot_number.lower())
            for i in known]
    errors += (list(prior_errors)
               + _same_lot_other_expiry(checked, keys, existing, matching)
               + _totals_too_large(checked, keys, existing))
    if errors:
        raise FileValidationError(source, sorted(errors, key=lambda e: e.line))
    held = repo.stock_on_hand(drug_ids)
    delivery_id = repo.insert_delivery(supplier=supplier, invoice=invoice, source=source,
                                       user=user)
    notes = f"Delivery {delivery_id}" + (f" from {supplier}" if supplier else "") + (
        f", invoice {invoice}" if invoice else "")
    work = _Delivery(repo, user, today, supplier, notes, existing)
    pairs = [work.receive_line(x, drug_of[i], keys[i], names.get(drug_of[i], ""))
             for i, x in enumerate(lines)]
    done = [d for d, _ in pairs]
    sale_ids = repo.insert_sales([s for _, s in pairs], document=notes)
    repo.insert_ledger([
        LedgerEntry(domain.RECEIVE, d.inventory_id, d.drug_id, d.quantity, d.unit_cost,
                    "delivery", str(delivery_id), user, notes, sale_id=sid)
        for d, sid in zip(done, sale_ids, strict=True)])
    new_costs = _new_costs(repo, done, held)
    repo.save_costs(new_costs, {drug_of[i]: x.units_per_package for i, x in enumerate(lines)
                                if x.units_per_package})
    if supplier:
        repo.ensure_supplier(supplier)
        repo.set_product_supplier_if_empty(drug_ids, supplier)
    result = ReceiptResult(None if dry_run else delivery_id, dry_run, tuple(done),
                           new_costs, names)
    repo.close_delivery(delivery_id, len(done), result.units, result.total_cost)
    return result


def receive(
    uow_factory: UnitOfWorkFactory,
    lines: Sequence[ReceiptLine],
    *,
    user: str,
    today: date,
    supplier: str = "",
    invoice: str = "",
    source: str = "command line",
    dry_run: bool = False,
    prior_errors: Sequence[LineError] = (),
) -> ReceiptResult:
    """Receive lots (one delivery, all or nothing): a purchase ``drug_sales`` row per
    line (trans_type 2, pid 0, quantity -qty, fee -total cost), the newest live lot of
    the same product, warehouse and lot number reused (else a new ``drug_inventory``
    row), weighted average and last cost per product updated in the same transaction,
    a RECEIVE ledger row per line. ``prior_errors`` (the file's other bad lines) are
    reported together with the lines this check finds, and nothing is written."""
    if not lines and prior_errors:
        raise FileValidationError(source, prior_errors)
    if not lines:
        raise domain.StockInputError("nothing to receive")
    return run_in_transaction(
        uow_factory,
        lambda repo: _receive_all(repo, lines, user=user, today=today,
                                  supplier=supplier.strip(), invoice=invoice, source=source,
                                  dry_run=dry_run, prior_errors=prior_errors),
        dry_run=dry_run)
