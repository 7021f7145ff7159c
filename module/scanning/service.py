"""Scanning services: a GS1 scan resolved to a product (by GTIN) and a lot, then handed
to the existing services, so a scan writes exactly the rows the typed command writes:

* receiving: :func:`receipt_from_scan` builds the ``receive`` line (product, lot,
  expiry from the barcode; quantity and cost from the person);
* counting: :func:`count_from_scans` turns package scans into stock-take lines;
* at the chair: :func:`record_chair_scan` records the scanned lot as the lot actually
  used for the visit's material of that product, through the usage service.

Every refusal is a :class:`~.domain.ScanError` raised before anything is written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from ..acl.domain import SUPERUSER, Aco, acl_check
from ..acl.repository import AclRepository
from ..consumption.containers import service as containers
from ..errors import UnknownVisitError
from ..products import domain as products_domain
from ..products.domain import Product
from ..products.repository import ProductRepository
from ..stock import domain as stock_domain
from ..stock import service as stock_service
from ..stock.domain import CountLine, ReceiptLine
from ..unit_of_work import UnitOfWork, UnitOfWorkFactory
from ..usage import service as usage_service
from ..usage.repository import UsageRepository
from .domain import Scan, ScanError, check_not_expired, parse_scan, require_lot
from .repository import ScannedLot, ScanRepository


@dataclass(frozen=True)
class ResolvedScan:
    """A scan with its product and the lots of that product carrying its lot number."""

    scan: Scan
    product: Product
    lots: tuple[ScannedLot, ...]


def _unknown_gtin(uow: UnitOfWork, gtin: str) -> ScanError:
    """The unknown-GTIN refusal, offering the link (to the product whose NDC the GTIN
    carries, when there is one)."""
    ndc = products_domain.ndc_in_gtin(gtin)
    matches = [] if ndc is None else [
        (drug_id, name) for drug_id, name, number in uow.get(ProductRepository).ndc_numbers()
        if products_domain.ndc_matches(ndc, number)]
    if len(matches) == 1:
        drug_id, name = matches[0]
        return ScanError(f"unknown GTIN {gtin}; its NDC {products_domain.format_ndc(ndc or '')}"
                         f" is product {drug_id} ({name}): link it with 'aesthetic-inventory "
                         f"products set {drug_id} --gtin {gtin}'")
    return ScanError(f"unknown GTIN {gtin}: link it to its product with 'aesthetic-inventory "
                     f"products set ID --gtin {gtin}'")


def resolve(uow: UnitOfWork, raw: str, *, today: date, need_lot: bool = True,
            allow_expired: bool = False) -> ResolvedScan:
    """Parse a scan and find its product and lots (refused: unknown GTIN, expired unless
    ``allow_expired`` (a stock take counts what is on the shelf), a lot number that only
    another product has)."""
    scan = parse_scan(raw)
    if not allow_expired:
        check_not_expired(scan, today)
    drug_id = uow.get(ProductRepository).product_of_gtin(scan.gtin)
    if drug_id is None:
        raise _unknown_gtin(uow, scan.gtin)
    product = uow.get(ProductRepository).product(drug_id)
    if product is None:  # the GTIN row outlived its product
        raise _unknown_gtin(uow, scan.gtin)
    lots: tuple[ScannedLot, ...] = ()
    if need_lot:
        lot_number = require_lot(scan)
        every = uow.get(ScanRepository).lots_numbered(lot_number)
        lots = tuple(x for x in every if x.drug_id == drug_id)
        others = sorted({f"{x.drug_id} ({x.product})" for x in every if x.drug_id != drug_id})
        if others and not lots:
            raise ScanError(f"lot {lot_number} belongs to product {', '.join(others)}, not to "
                            f"{product.name} (GTIN {scan.gtin}): check the package")
    return ResolvedScan(scan, product, lots)


def receipt_from_scan(
    uow_factory: UnitOfWorkFactory, raw: str, *, today: date,
    packages: str | None, quantity: str | None, unit_cost: str, warehouse: str = "",
    expires: str | None = None,
) -> ReceiptLine:
    """The ``receive`` line a scan and the person's quantity and cost make: product by
    GTIN, lot and expiry from the barcode (``expires`` only when the barcode has none),
    ``packages`` times the product's package size."""
    with uow_factory() as uow:
        resolved = resolve(uow, raw, today=today)
    scan, product = resolved.scan, resolved.product
    if scan.expires is None and not expires:
        raise ScanError(f"the barcode of lot {scan.lot} has no expiry (AI 17): give --expires")
    if scan.expires is not None and expires and expires != scan.expires.isoformat():
        raise ScanError(f"--expires {expires} differs from the barcode's expiry "
                        f"{scan.expires.isoformat()}")
    if packages is None and quantity is None:
        raise ScanError("give the quantity received: --packages N or --quantity N")
    line, errors = stock_domain.validate_receipt(
        product=str(product.drug_id), lot_number=scan.lot or "",
        expires=scan.expires or expires or "", quantity=quantity, unit_cost=unit_cost,
        today=today, warehouse=warehouse, packages=packages,
        units_per_package=None if packages is None else product.settings.units_per_package)
    if errors or line is None:
        raise stock_domain.FileValidationError("", errors)
    return line


def _count_lot(resolved: ResolvedScan, warehouse: str) -> ScannedLot:
    lot_number = resolved.scan.lot
    live = [x for x in resolved.lots if not x.destroyed
            and (not warehouse or x.warehouse_id == warehouse)]
    if not live:
        where = f" in warehouse {warehouse}" if warehouse else ""
        raise ScanError(f"no lot {lot_number} of {resolved.product.name}{where}: receive it "
                        "first ('receive --scan')")
    if len(live) > 1:
        places = ", ".join(f"{x.inventory_id} ({x.warehouse_id or 'no warehouse'})"
                           for x in live)
        raise ScanError(f"lot {lot_number} of {resolved.product.name} is in several "
                        f"places ({places}): give --warehouse")
    return live[0]


def count_from_scans(uow_factory: UnitOfWorkFactory, scans: Sequence[str], *,
                     today: date, warehouse: str = "") -> list[CountLine]:
    """Stock-take lines from package scans: each scan adds one package (the product's
    package size in counting units) to the counted quantity of its lot. Every scan is
    checked before any line is returned."""
    if not scans:
        raise ScanError("nothing scanned")
    counted: Counter[int] = Counter()
    with uow_factory() as uow:
        for number, raw in enumerate(scans, start=1):
            try:
                resolved = resolve(uow, raw, today=today, allow_expired=True)
                lot = _count_lot(resolved, warehouse)
            except ScanError as exc:
                raise ScanError(f"scan {number}: {exc}") from None
            counted[lot.inventory_id] += resolved.product.settings.units_per_package
    return [CountLine(inventory_id, units, f"counted by scan ({units} unit(s))")
            for inventory_id, units in sorted(counted.items())]


@dataclass(frozen=True)
class ChairScanResult:
    """The lot a chair-side scan recorded, the usage service's record result and, for a
    product counted in units, the open containers (vials) of that lot the visit's
    material now draws from: id, units drawn, units left, hours to beyond use."""

    scan: Scan
    drug_id: int
    product: str
    inventory_id: int
    lot_number: str
    record: usage_service.RecordResult
    containers: tuple[dict[str, object], ...] = ()

    @property
    def message(self) -> str:
        """One line for the nurse: the lot and, for a vial, which one and its time."""
        text = f"lot {self.lot_number} recorded as used for {self.product}"
        vials = [_vial_text(c) for c in self.containers]
        return text + (": " + "; ".join(vials) if vials else "")

    def as_dict(self) -> dict[str, object]:
        return {"scan": self.scan.as_dict(), "productId": self.drug_id,
                "product": self.product, "inventoryId": self.inventory_id,
                "lotNumber": self.lot_number, "containers": list(self.containers),
                "message": self.message, "record": self.record.as_dict()}


def _vial_text(c: dict[str, object]) -> str:
    """``vial #2: 20 U, 80 U left, 23 h to beyond use`` (the review page's words)."""
    unit = c["unit"]
    text = f"vial #{c['containerId']}: {c['units']} {unit}"
    if not c["open"]:
        return text + ", closed"
    text += f", {c['unitsLeft']} {unit} left"
    hours = c["hoursLeft"]
    return text + ("" if hours is None else f", {hours:g} h to beyond use")


def _chair_lot(resolved: ResolvedScan, held: set[int]) -> ScannedLot:
    """The lot of that number to record: one the visit already draws from (a lot number
    may be in several warehouses), else the oldest usable one."""
    lot_number = resolved.scan.lot
    if not resolved.lots:
        raise ScanError(f"no lot {lot_number} of {resolved.product.name} in stock: receive "
                        "it first")
    usable = [x for x in resolved.lots if x.usable]
    if not usable:
        raise ScanError(f"lot {lot_number} of {resolved.product.name} has no stock left "
                        "(used up or destroyed)")
    return min(usable, key=lambda x: (x.inventory_id not in held, x.inventory_id))


def record_chair_scan(uow: UnitOfWork, pid: int, encounter: int, raw: str, *, user: str,
                      service_username: str, today: date | None = None,
                      now: datetime | None = None) -> ChairScanResult:
    """Record the scanned lot as the lot actually used for the visit's material of the
    scanned product (inside the caller's unit of work; no commit). The quantity stays
    the recorded actual, else the plan; the usage service moves the stock. For a
    product counted in units the material is drawn from a vial of that lot: the one the
    visit already draws from, else the lot's oldest open one, else a new one opened
    from it (the consumption engine's container step); the result names it."""
    today = today or date.today()
    if not uow.get(UsageRepository).visit_exists(pid, encounter):
        raise UnknownVisitError(f"no visit with pid {pid} and encounter {encounter}")
    resolved = resolve(uow, raw, today=today)
    product = resolved.product
    usage = uow.get(UsageRepository)
    held = {h.inventory_id for h in usage.held_rows(pid, encounter)}
    lot = _chair_lot(resolved, held)
    live = usage.live_planned(pid, encounter)
    records = usage.records(pid, encounter)
    mine = sorted({ref.mapping_id: (ref.code_type, ref.code, planned)
                   for ref, planned in live.values() if ref.drug_id == product.drug_id}.items())
    mine += [(m, (r.code_type, r.code, Decimal(0))) for m, r in records.items()
             if r.drug_id == product.drug_id and m not in live]
    if not mine:
        raise ScanError(f"{product.name} is not among the materials of visit pid {pid} "
                        f"encounter {encounter}")
    if len(mine) > 1:
        codes = ", ".join(f"{c}:{code}" for _m, (c, code, _p) in mine)
        raise ScanError(f"{product.name} is billed under several codes ({codes}): pick the "
                        "lot on the page instead")
    mapping_id, (code_type, code, planned) = mine[0]
    actual = records[mapping_id].actual if mapping_id in records else None
    material = usage_service.MaterialInput(
        code_type=code_type, code=code, actual=actual.quantity if actual else planned,
        product=product.drug_id, reason=actual.reason if actual else None,
        notes=actual.notes if actual else None, lot=f"#{lot.inventory_id}")
    record = usage_service.record_in_transaction(
        uow, pid, encounter, [material], user=user, service_username=service_username,
        today=today)
    # a product counted in units: the vial(s) of the scanned lot the material draws from
    drawn = containers.visit_container_draws(uow, pid, encounter, now=now or datetime.now())
    vials = tuple(c for c in drawn.get(mapping_id, []) if c["inventoryId"] == lot.inventory_id)
    return ChairScanResult(resolved.scan, product.drug_id, product.name, lot.inventory_id,
                           resolved.scan.lot or "", record, vials)


RECEIVE_ACO = Aco("inventory", "purchases")


def may_receive(uow_factory: UnitOfWorkFactory, username: str) -> bool:
    """Whether OpenEMR's ACL lets ``username`` receive and count stock (``inventory/
    purchases``, the ACO of OpenEMR's lot purchases)."""
    with uow_factory() as uow:
        user = uow.get(AclRepository).load(username, [RECEIVE_ACO, SUPERUSER])
    return acl_check(user, RECEIVE_ACO)


def receive_by_scan(
    uow_factory: UnitOfWorkFactory, raw: str, *, user: str, today: date,
    packages: int | None, quantity: int | None, unit_cost: str, warehouse: str = "",
    supplier: str = "", invoice: str = "", expires: str | None = None,
    dry_run: bool = False,
) -> stock_service.ReceiptResult:
    """One scanned receipt, written by the ``receive`` service (the receiving page)."""
    line = receipt_from_scan(
        uow_factory, raw, today=today, packages=None if packages is None else str(packages),
        quantity=None if quantity is None else str(quantity), unit_cost=unit_cost,
        warehouse=warehouse, expires=expires)
    stock_service.preflight(uow_factory)
    return stock_service.receive(uow_factory, [line], user=user, today=today,
                                 supplier=supplier, invoice=invoice, source="scan",
                                 dry_run=dry_run)


def count_by_scan(
    uow_factory: UnitOfWorkFactory, scans: Sequence[str], *, user: str, today: date,
    warehouse: str = "", dry_run: bool = False,
) -> stock_service.CountResult:
    """A stock take of package scans, written by the ``count`` service (the count page)."""
    lines = count_from_scans(uow_factory, scans, today=today, warehouse=warehouse)
    stock_service.preflight(uow_factory)
    return stock_service.count(uow_factory, lines, user=user, today=today,
                               source=f"scan ({len(scans)} package(s))", dry_run=dry_run)
