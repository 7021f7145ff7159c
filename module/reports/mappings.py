"""Mapping service: validate, add, change, remove, import and export the
``procedure_products`` rows (billing code -> product, quantity per service unit).

Every change is one transaction that writes nothing unless the whole change is
valid. Errors raise :class:`InvalidInputError` with one line; warnings (inactive or
non-dispensable product, code missing from ``codes``) are returned to the caller.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO

from sqlalchemy.engine import Engine

from ..errors import InvalidInputError
from ..unit_of_work import UnitOfWork
from .domain import Mapping, Validation, parse_quantity
from .formatting import csv_cell
from .mapping_repository import MappingRepository

CSV_HEADER = ("code_type", "code", "product_id", "product", "quantity")
MAX_ERRORS_SHOWN = 5


@dataclass(frozen=True)
class MappingInput:
    """A mapping as the user gave it (command-line options or a CSV row)."""

    code_type: str
    code: str
    product: int | str
    quantity: str


@dataclass(frozen=True)
class Resolved:
    """A validated mapping: the product is found and the quantity parsed."""

    code_type: str
    code: str
    drug_id: int
    product: str
    quantity: Decimal


def fmt_quantity(q: Decimal) -> str:
    """A quantity without trailing zeros (1.5000 -> 1.5, 2.0000 -> 2)."""
    text = format(q.normalize(), "f")
    return text


def _resolve(repo: MappingRepository, item: MappingInput, where: str = "") -> tuple[
        Resolved | None, Validation]:
    v = Validation()
    code_type, code = item.code_type.strip(), item.code.strip()
    if not code_type:
        v.errors.append(f"{where}code type is empty")
    elif len(code_type) > 31:
        v.errors.append(f"{where}code type is longer than 31 characters")
    if not code:
        v.errors.append(f"{where}code is empty")
    elif len(code) > 64:
        v.errors.append(f"{where}code is longer than 64 characters")
    try:
        quantity = parse_quantity(item.quantity)
    except ValueError as exc:
        v.errors.append(f"{where}{exc}")
        quantity = Decimal(0)
    products = repo.products(item.product) if item.product != "" else []
    if not products:
        v.errors.append(f"{where}no product {item.product!r} (give a drug id or an exact name)")
    elif len(products) > 1:
        ids = ", ".join(str(p[0]) for p in products)
        v.errors.append(f"{where}product name {item.product!r} is ambiguous (ids {ids}): "
                        "give the id")
    drug_id, name = (int(products[0][0]), products[0][1] or "") if len(products) == 1 else (0, "")
    if len(products) == 1:
        if not products[0][2]:
            v.warnings.append(f"{where}product {drug_id} ({name}) is inactive")
        if not products[0][3]:
            v.warnings.append(f"{where}product {drug_id} ({name}) is not dispensable: "
                              "sales will not take stock from lots")
    if code_type:
        ct_id = repo.code_type_id(code_type)
        if ct_id is None:
            v.errors.append(f"{where}unknown code type {code_type!r} (not in code_types)")
        elif code and not repo.code_exists(ct_id, code):
            v.warnings.append(f"{where}code {code_type} {code} is not in the codes table "
                              "(mapping kept; check the spelling)")
    if not v.ok:
        return None, v
    return Resolved(code_type, code, drug_id, name, quantity), v


def _fail(errors: list[str], prefix: str = "") -> InvalidInputError:
    shown = errors[:MAX_ERRORS_SHOWN]
    more = f" (and {len(errors) - len(shown)} more)" if len(errors) > len(shown) else ""
    return InvalidInputError(prefix + "; ".join(shown) + more + "; nothing was changed")


def list_mappings(engine: Engine) -> list[Mapping]:
    """Every mapping, by code type, code and product."""
    with UnitOfWork(engine) as uow:
        return MappingRepository(uow.connection).all()


def add_mapping(engine: Engine, item: MappingInput) -> tuple[Mapping, list[str]]:
    """Add one mapping; returns it and the warnings. Duplicates are refused."""
    with UnitOfWork(engine) as uow:
        repo = MappingRepository(uow.connection)
        resolved, v = _resolve(repo, item)
        if resolved is None:
            raise _fail(v.errors)
        existing = repo.find(resolved.code_type, resolved.code, resolved.drug_id)
        if existing is not None:
            raise InvalidInputError(
                f"{existing.code_type} {existing.code} is already mapped to product "
                f"{existing.drug_id} ({existing.product}) as mapping {existing.id} with "
                f"quantity {fmt_quantity(existing.quantity)}; use 'mappings set' to change it"
            )
        new_id = repo.insert(resolved.code_type, resolved.code, resolved.drug_id,
                             resolved.quantity)
        uow.commit()
        return Mapping(new_id, resolved.code_type, resolved.code, resolved.drug_id,
                       resolved.product, resolved.quantity), v.warnings


def _locate(repo: MappingRepository, mapping_id: int | None,
            key: tuple[str, str, int | str] | None) -> Mapping:
    if mapping_id is not None:
        found = repo.get(mapping_id)
        if found is None:
            raise InvalidInputError(f"no mapping with id {mapping_id}")
        return found
    if key is None:
        raise InvalidInputError("give --id, or --code-type, --code and --product")
    code_type, code, product = key
    products = repo.products(product)
    if len(products) != 1:
        raise InvalidInputError(f"no single product {product!r} (give a drug id or an exact "
                                "name)")
    found = repo.find(code_type.strip(), code.strip(), int(products[0][0]))
    if found is None:
        raise InvalidInputError(f"no mapping of {code_type} {code} to product {product}")
    return found


def set_mapping(engine: Engine, quantity: str, *, mapping_id: int | None = None,
                key: tuple[str, str, int | str] | None = None) -> tuple[Mapping, Decimal]:
    """Change a mapping's quantity; returns the mapping (new quantity) and the old one."""
    try:
        value = parse_quantity(quantity)
    except ValueError as exc:
        raise InvalidInputError(f"{exc}; nothing was changed") from None
    with UnitOfWork(engine) as uow:
        repo = MappingRepository(uow.connection)
        found = _locate(repo, mapping_id, key)
        assert found.id is not None
        repo.set_quantity(found.id, value)
        uow.commit()
        return Mapping(found.id, found.code_type, found.code, found.drug_id, found.product,
                       value), found.quantity


def remove_mapping(engine: Engine, *, mapping_id: int | None = None,
                   key: tuple[str, str, int | str] | None = None) -> Mapping:
    """Delete a mapping (the next reconcile of its visits returns unbilled stock)."""
    with UnitOfWork(engine) as uow:
        repo = MappingRepository(uow.connection)
        found = _locate(repo, mapping_id, key)
        assert found.id is not None
        repo.delete(found.id)
        uow.commit()
        return found


# -- CSV import / export -----------------------------------------------------------
def export_csv(mappings: Iterable[Mapping], out: IO[str]) -> int:
    """Write the mappings in the import format; returns the row count."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    n = 0
    for m in mappings:
        # the product's name is only a label here (import reads product_id first), so it
        # is made formula-safe; codes stay exact for the round trip
        writer.writerow([m.code_type, m.code, m.drug_id, csv_cell(m.product),
                         fmt_quantity(m.quantity)])
        n += 1
    return n


def read_csv(text_in: IO[str], name: str) -> list[tuple[int, MappingInput]]:
    """Rows of an import file as (line number, input); a malformed file raises."""
    reader = csv.DictReader(text_in)
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    missing = [c for c in ("code_type", "code", "quantity") if c not in fields]
    if missing or not ({"product_id", "product"} & set(fields)):
        raise InvalidInputError(
            f"{name}: the header must have code_type, code, product_id or product, quantity "
            f"(got {', '.join(fields) or 'nothing'})"
        )
    reader.fieldnames = fields
    out = []
    for row in reader:
        pid = (row.get("product_id") or "").strip()
        product: int | str
        if pid:
            if not pid.isdigit():
                raise InvalidInputError(f"{name}:{reader.line_num}: product_id must be a number, "
                                        f"got {pid!r}; nothing was changed")
            product = int(pid)
        else:
            product = (row.get("product") or "").strip()
        out.append((reader.line_num, MappingInput(row.get("code_type") or "",
                                                  row.get("code") or "", product,
                                                  row.get("quantity") or "")))
    return out


@dataclass
class ImportPlan:
    """What an import does (or would do)."""

    add: list[Resolved] = field(default_factory=list)
    update: list[tuple[Mapping, Decimal]] = field(default_factory=list)  # (current, new)
    remove: list[Mapping] = field(default_factory=list)
    unchanged: int = 0
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.add) + len(self.update) + len(self.remove)


def import_mappings(
    engine: Engine, rows: list[tuple[int, MappingInput]], *, name: str, dry_run: bool,
    replace: bool = False, progress: Callable[[int], None] | None = None,
) -> ImportPlan:
    """Apply a whole file in one transaction, or nothing: every row is validated
    first; any error (or a duplicate row) aborts with nothing written. Rows add a
    mapping or change its quantity; with ``replace``, mappings absent from the file
    are removed. ``dry_run`` plans and rolls back."""
    plan = ImportPlan()
    errors: list[str] = []
    with UnitOfWork(engine) as uow:
        repo = MappingRepository(uow.connection)
        current = {(m.code_type.lower(), m.code.lower(), m.drug_id): m for m in repo.lock_all()}
        seen: dict[tuple[str, str, int], int] = {}
        for line, item in rows:
            resolved, v = _resolve(repo, item, f"{name}:{line}: ")
            plan.warnings += v.warnings
            errors += v.errors
            if progress is not None:
                progress(1)
            if resolved is None:
                continue
            key = (resolved.code_type.lower(), resolved.code.lower(), resolved.drug_id)
            if key in seen:
                errors.append(f"{name}:{line}: duplicate of line {seen[key]} "
                              f"({resolved.code_type} {resolved.code} -> {resolved.drug_id})")
                continue
            seen[key] = line
            existing = current.get(key)
            if existing is None:
                plan.add.append(resolved)
            elif existing.quantity != resolved.quantity:
                plan.update.append((existing, resolved.quantity))
            else:
                plan.unchanged += 1
        if errors:
            raise _fail(errors)
        if replace:
            plan.remove = [m for k, m in current.items() if k not in seen]
        if dry_run:
            return plan
        for r in plan.add:
            repo.insert(r.code_type, r.code, r.drug_id, r.quantity)
        for m, q in plan.update:
            assert m.id is not None
            repo.set_quantity(m.id, q)
        for m in plan.remove:
            assert m.id is not None
            repo.delete(m.id)
        uow.commit()
    return plan
