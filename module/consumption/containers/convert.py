"""``products convert``: turn a product counted in packages into counting units.

One transaction: the product row, then every lot of it (inventory_id order) are locked;
every count of the product is multiplied by the package size and every per-unit cost
divided by it (:meth:`.ConvertRepository.convert_counts`); the module's movement
ledger gets one CONVERT row per lot so that its sum per lot is the package size times
what it was (the append-only ledger is never rewritten). OpenEMR's own ledger balances
after as before (on_hand and every drug_sales quantity scale together), so its
Inventory Activity report shows the same history in units. A dry run is the same
pipeline, rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ...stock.repository import LedgerEntry, StockRepository
from ...unit_of_work import UnitOfWork, UnitOfWorkFactory, run_transaction
from .convert_repository import ConvertRepository
from .domain import ContainerInputError
from .service import locked_product_rule

CONVERT = "CONVERT"
MAX_PACKAGE_SIZE = 1_000_000


@dataclass(frozen=True)
class ConvertResult:
    drug_id: int
    product: str
    package_size: int
    counting_unit: str
    lots: dict[int, tuple[int, int]]  # inventory_id -> (on_hand before, after)
    rows: dict[str, int]  # table -> rows changed
    dry_run: bool


def _check(package_size: int, unit: str) -> str:
    if not 2 <= package_size <= MAX_PACKAGE_SIZE:
        raise ContainerInputError(
            f"--package-size must be from 2 to {MAX_PACKAGE_SIZE}, got {package_size}")
    unit = unit.strip()
    if not unit or len(unit) > 31:
        raise ContainerInputError("--unit must be 1 to 31 characters")
    return unit


def convert(factory: UnitOfWorkFactory, drug_id: int, package_size: int, *, unit: str = "U",
            package_unit: str = "package", user: str, dry_run: bool = False) -> ConvertResult:
    """Convert the product to ``unit`` with ``package_size`` units per package.
    Refused (nothing written) for a product already counted in units and while a visit
    of the product is queued or set aside (its reconcile would mix the two counts)."""
    unit = _check(package_size, unit)

    def work(uow: UnitOfWork) -> ConvertResult:
        _boxes, rule = locked_product_rule(uow, drug_id)
        boxes = uow.get(ConvertRepository)
        stock = uow.get(StockRepository)
        if rule.counted_in_units or rule.package_size > 1:
            raise ContainerInputError(
                f"product {drug_id} ({rule.name}) is already counted in "
                f"{rule.counting_unit or 'units'} ({rule.package_size} per package)")
        waiting = boxes.visits_waiting(drug_id)
        if waiting:
            raise ContainerInputError(
                f"{waiting} visit(s) of product {drug_id} are queued or set aside: run "
                "'aesthetic-inventory sync' (or wait for the service) and try again")
        before = boxes.lock_all_lots(drug_id)
        ledger_before = boxes.ledger_sums(drug_id)
        rows = boxes.convert_counts(drug_id, package_size)
        boxes.set_package(drug_id, package_size=package_size, counting_unit=unit,
                                   package_unit=package_unit.strip()[:31])
        after = boxes.ledger_sums(drug_id)  # the drug_sales observers' rows too
        note = f"converted to {unit}: {package_size} per {package_unit}"
        stock.insert_ledger([
            LedgerEntry(CONVERT, inv, drug_id, target - after.get(inv, 0), Decimal(0),
                        "convert", str(drug_id), user, note)
            for inv, target in ((i, s * package_size) for i, s in sorted(ledger_before.items()))
            if target != after.get(inv, 0)])
        return ConvertResult(drug_id, rule.name, package_size, unit,
                             {i: (q, q * package_size) for i, q in before.items()}, rows,
                             dry_run)

    return run_transaction(factory, work, dry_run=dry_run)
