"""Product services: list, show, add and change products (OpenEMR's ``drugs`` row and the
module's package, counting unit and GTINs), each change one transaction.

The CLI (``products list|show|add|set``) and the scanning service call these; they take
a unit-of-work factory and primitives and return frozen results.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..db import existing_tables, require_openemr
from ..unit_of_work import (
    UnitOfWork,
    UnitOfWorkFactory,
    retry_on_lock_conflict,
)
from . import domain
from .domain import Product, ProductChange, ProductInputError
from .repository import PRODUCT_GTIN, PRODUCT_STOCK, NewDrug, ProductRepository


class ProductsNotMigratedError(ProductInputError):
    """The product tables (version 519, 519_30) are missing."""


class NeedsConfirmationError(ProductInputError):
    """Legal but implausible input: the caller must confirm (``--yes``)."""


@dataclass(frozen=True)
class ProductResult:
    """A product after ``add``/``set`` and what the command should tell the user."""

    product: Product
    created: bool
    notes: tuple[str, ...] = ()


def preflight(uow_factory: UnitOfWorkFactory) -> None:
    """An OpenEMR database with the product tables and columns."""
    with uow_factory() as uow:
        require_openemr(uow.connection)
        if len(existing_tables(uow.connection, (PRODUCT_STOCK, PRODUCT_GTIN))) < 2:
            raise ProductsNotMigratedError(
                "the product tables are missing: run 'aesthetic-inventory migrate'")


def list_products(uow_factory: UnitOfWorkFactory, *, include_inactive: bool = False,
                  category: str | None = None) -> list[Product]:
    """Products by name, with package settings, GTINs and stock on hand."""
    with uow_factory() as uow:
        return uow.get(ProductRepository).products(
            include_inactive=include_inactive, category=category)


def resolve_product(repo: ProductRepository, ref: str) -> Product:
    """A product by id or exact name (one-line error when unknown or ambiguous)."""
    ref = ref.strip()
    if ref.isdigit():
        found = repo.product(int(ref))
        if found is None:
            raise ProductInputError(f"no product {ref}")
        return found
    ids = repo.product_ids_named(ref)
    if not ids:
        raise ProductInputError(f"no product named {ref!r}")
    if len(ids) > 1:
        raise ProductInputError(f"{len(ids)} products are named {ref!r}; use the id "
                                f"({', '.join(map(str, ids))})")
    product = repo.product(ids[0])
    assert product is not None
    return product


def show_product(uow_factory: UnitOfWorkFactory, ref: str) -> Product:
    """One product by id or exact name."""
    with uow_factory() as uow:
        return resolve_product(uow.get(ProductRepository), ref)


def _run(uow_factory: UnitOfWorkFactory,
         work: Callable[[UnitOfWork], ProductResult]) -> ProductResult:
    factory = uow_factory

    def attempt() -> ProductResult:
        with factory() as uow:
            result = work(uow)
            uow.commit()
            return result

    return retry_on_lock_conflict(attempt)


def _gtin_notes(repo: ProductRepository, product: Product, gtins: Sequence[str],
                *, confirmed: bool) -> tuple[list[str], list[str]]:
    """The GTINs to link and notes: refuse a GTIN linked to another product; for a US
    drug GTIN compare its NDC with the product's ``drugs.ndc_number`` (a mismatch needs
    confirmation)."""
    owners = repo.gtin_owners(gtins)
    notes: list[str] = []
    new = sorted({g for g in gtins if g not in owners})
    for gtin in gtins:
        owner = owners.get(gtin)
        if owner is not None and owner != product.drug_id:
            raise ProductInputError(f"GTIN {gtin} is already linked to product {owner}")
        ndc = domain.ndc_in_gtin(gtin)
        if ndc is None:
            continue
        if not product.ndc_number:
            notes.append(f"GTIN {gtin} carries the US NDC {domain.format_ndc(ndc)}; the "
                         "product has no NDC number in OpenEMR")
        elif domain.ndc_matches(ndc, product.ndc_number):
            notes.append(f"GTIN {gtin} carries NDC {product.ndc_number}: matches the product")
        elif not confirmed:
            raise NeedsConfirmationError(
                f"GTIN {gtin} carries NDC {domain.format_ndc(ndc)}, but product "
                f"{product.drug_id} has NDC {product.ndc_number}; link it anyway with --yes")
        else:
            notes.append(f"GTIN {gtin} carries NDC {domain.format_ndc(ndc)}, not the "
                         f"product's {product.ndc_number} (linked as confirmed)")
    return new, notes


def _apply(repo: ProductRepository, product: Product, change: ProductChange,
           *, remove_gtins: Sequence[str], confirmed: bool) -> list[str]:
    """Validate and write one change of a locked product; returns notes for the user."""
    settings = domain.apply_change(product.settings, change)
    domain.check_levels(settings.min_level, _given(change.reorder_point, product.reorder_point),
                        _given(change.max_level, product.max_level))
    if change.unit_cost is not None and change.unit_cost < 0:
        raise ProductInputError(f"--cost must not be negative, got {change.unit_cost}")
    before = product.settings
    recount = (settings.counted_in_units != before.counted_in_units or (
        settings.counted_in_units and settings.units_per_package != before.units_per_package))
    if recount and repo.has_lots(product.drug_id):
        # on_hand and every sale row would change meaning: that is products convert's job
        raise ProductInputError(
            f"product {product.drug_id} has stock: changing how it is counted needs "
            f"'aesthetic-inventory products convert {product.drug_id} --package-size N'")
    new_gtins, notes = _gtin_notes(repo, product, change.gtins, confirmed=confirmed)
    if change.touches_settings or settings != before:
        repo.save_settings(product.drug_id, settings)
    repo.update_drug(product.drug_id, category=change.category, unit_cost=change.unit_cost,
                     supplier=change.supplier, reorder_point=change.reorder_point,
                     max_level=change.max_level)
    repo.add_gtins(product.drug_id, new_gtins)
    removed = repo.remove_gtins(product.drug_id, remove_gtins)
    if remove_gtins and removed < len(set(remove_gtins)):
        raise ProductInputError(f"product {product.drug_id} has no GTIN "
                                f"{', '.join(sorted(set(remove_gtins)))}")
    return notes


def _given(value: int | None, current: int) -> int:
    return current if value is None else value


def add_product(uow_factory: UnitOfWorkFactory, drug: NewDrug, change: ProductChange,
                *, confirmed: bool = False) -> ProductResult:
    """A new product: the ``drugs`` row as OpenEMR's drug screen writes it (refused when
    one with the same name, form, size, unit and route exists, as there), then the
    module's settings, levels and GTINs, in one transaction."""
    name = drug.name.strip()
    if not name:
        raise ProductInputError("the product name must not be empty")
    if len(name) > domain.NAME_MAX:
        raise ProductInputError(f"the product name is longer than {domain.NAME_MAX} characters")
    if len(drug.ndc_number) > domain.NDC_MAX:
        raise ProductInputError(f"--ndc: longer than {domain.NDC_MAX} characters")
    domain.check_levels(change.min_level, drug.reorder_point, drug.max_level)

    def work(uow: UnitOfWork) -> ProductResult:
        repo = uow.get(ProductRepository)
        if repo.duplicate_exists(drug):
            raise ProductInputError(f"a product named {name!r} with the same form, size, "
                                    "unit and route already exists")
        drug_id = repo.insert_drug(drug)
        created = repo.product(drug_id, lock=True)
        assert created is not None
        notes = _apply(repo, created, change, remove_gtins=(), confirmed=confirmed)
        final = repo.product(drug_id)
        assert final is not None
        return ProductResult(final, True, tuple(notes))

    return _run(uow_factory, work)


def set_product(uow_factory: UnitOfWorkFactory, ref: str, change: ProductChange, *,
                remove_gtins: Sequence[str] = (), confirmed: bool = False) -> ProductResult:
    """Change a product's module columns, levels, cost, supplier, category and GTINs in
    one transaction (the product row locked first, as the stock commands lock it)."""

    def work(uow: UnitOfWork) -> ProductResult:
        repo = uow.get(ProductRepository)
        found = resolve_product(repo, ref)
        product = repo.product(found.drug_id, lock=True)
        assert product is not None
        notes = _apply(repo, product, change, remove_gtins=remove_gtins,
                       confirmed=confirmed)
        final = repo.product(product.drug_id)
        assert final is not None
        return ProductResult(final, False, tuple(notes))

    return _run(uow_factory, work)


def package_size_lookup(uow_factory: UnitOfWorkFactory) -> Callable[[str], int | None]:
    """A function giving a product's package size (units_per_package; 1 when the module
    has no row) by id or exact name, None for an unknown or ambiguous product; each
    product is read once."""
    factory = uow_factory
    known: dict[str, int | None] = {}

    def size(ref: str) -> int | None:
        if ref not in known:
            with factory() as uow:
                try:
                    found = resolve_product(uow.get(ProductRepository), ref)
                    known[ref] = found.settings.units_per_package
                except ProductInputError:
                    known[ref] = None
        return known[ref]

    return size
