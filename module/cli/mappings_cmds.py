"""``mappings list | add | set | remove | import | export``: billing code -> product."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from ..bootstrap import App
from ..reports import mappings as svc
from ..reports.formatting import Column, jsonable, render_text
from ..reports.service import parse_product, require_migrated
from . import progress
from .context import pass_app

COLUMNS = [
    Column("ID", "id", True),
    Column("Code type", "code_type"),
    Column("Code", "code"),
    Column("Product ID", "drug_id", True),
    Column("Product", "product"),
    Column("Quantity", "quantity", True, get=lambda m: svc.fmt_quantity(m.quantity)),
]


def _as_dict(m: Any) -> dict[str, Any]:
    return {"id": m.id, "code_type": m.code_type, "code": m.code, "drug_id": m.drug_id,
            "product": m.product, "quantity": jsonable(m.quantity)}


def _warn(warnings: list[str]) -> None:
    for w in warnings:
        click.echo(f"warning: {w}", err=True)


def _key(code_type: str | None, code: str | None, product: str | None
         ) -> tuple[str, str, int | str] | None:
    if code_type is None and code is None and product is None:
        return None
    if not (code_type and code and product):
        raise click.UsageError("give --id, or all of --code-type, --code and --product")
    wanted = parse_product(product)
    assert wanted is not None
    return code_type, code, wanted


@click.group()
def mappings() -> None:
    """Billing code -> product mappings (procedure_products)."""


@mappings.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_cmd(app: App, as_json: bool) -> None:
    """Every mapping."""
    require_migrated(app.engine)
    rows = svc.list_mappings(app.engine)
    if as_json:
        click.echo(json.dumps([_as_dict(m) for m in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no mappings")
        return
    for line in render_text(COLUMNS, rows):
        click.echo(line)


_ident = [
    click.option("--id", "mapping_id", type=click.IntRange(min=1), help="Mapping id."),
    click.option("--code-type", help="Code type key, e.g. CPT4."),
    click.option("--code", help="Billing code, e.g. 15828."),
    click.option("--product", help="Product id or exact name."),
]


def _with_ident(f: Any) -> Any:
    for option in reversed(_ident):
        f = option(f)
    return f


@mappings.command("add")
@click.option("--code-type", required=True, help="Code type key, e.g. CPT4.")
@click.option("--code", required=True, help="Billing code, e.g. 15828.")
@click.option("--product", required=True, help="Product id or exact name.")
@click.option("--quantity", required=True, help="Inventory units per service unit, e.g. 1.5.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def add_cmd(app: App, code_type: str, code: str, product: str, quantity: str,
            as_json: bool) -> None:
    """Map a billing code to a product."""
    require_migrated(app.engine)
    wanted = parse_product(product)
    assert wanted is not None
    mapping, warnings = svc.add_mapping(
        app.engine, svc.MappingInput(code_type, code, wanted, quantity))
    _warn(warnings)
    if as_json:
        click.echo(json.dumps(_as_dict(mapping) | {"warnings": warnings}, indent=2))
        return
    click.echo(f"added mapping {mapping.id}: {mapping.code_type} {mapping.code} -> product "
               f"{mapping.drug_id} ({mapping.product}) x {svc.fmt_quantity(mapping.quantity)}")


@mappings.command("set")
@_with_ident
@click.option("--quantity", required=True, help="New inventory units per service unit.")
@pass_app
def set_cmd(app: App, mapping_id: int | None, code_type: str | None, code: str | None,
            product: str | None, quantity: str) -> None:
    """Change a mapping's quantity."""
    require_migrated(app.engine)
    key = _key(code_type, code, product) if mapping_id is None else None
    mapping, old = svc.set_mapping(app.engine, quantity, mapping_id=mapping_id, key=key)
    click.echo(f"mapping {mapping.id}: {mapping.code_type} {mapping.code} -> product "
               f"{mapping.drug_id} ({mapping.product}): quantity {svc.fmt_quantity(old)} -> "
               f"{svc.fmt_quantity(mapping.quantity)}")


@mappings.command("remove")
@_with_ident
@pass_app
def remove_cmd(app: App, mapping_id: int | None, code_type: str | None, code: str | None,
               product: str | None) -> None:
    """Delete a mapping (its visits give unbilled stock back on their next reconcile)."""
    require_migrated(app.engine)
    key = _key(code_type, code, product) if mapping_id is None else None
    mapping = svc.remove_mapping(app.engine, mapping_id=mapping_id, key=key)
    click.echo(f"removed mapping {mapping.id}: {mapping.code_type} {mapping.code} -> product "
               f"{mapping.drug_id} ({mapping.product})")


@mappings.command("export")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE instead of standard output.")
@pass_app
def export_cmd(app: App, output: str | None) -> None:
    """Write every mapping as CSV (the import format)."""
    require_migrated(app.engine)
    rows = svc.list_mappings(app.engine)
    if output is None:
        svc.export_csv(rows, sys.stdout)
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            n = svc.export_csv(rows, fh)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    click.echo(f"wrote {n} mapping(s) to {output}", err=True)


@mappings.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Validate and print the changes; write nothing.")
@click.option("--replace", is_flag=True, help="Also remove mappings that are not in FILE.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def import_cmd(app: App, file: str, dry_run: bool, replace: bool, as_json: bool) -> None:
    """Add or update mappings from a CSV file, all or nothing.

    Columns: code_type, code, product_id (or product, an exact name), quantity.
    """
    require_migrated(app.engine)
    try:
        with open(file, encoding="utf-8-sig", newline="") as fh:
            rows = svc.read_csv(fh, file)
    except OSError as exc:
        raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise click.ClickException(f"{file} is not UTF-8 text") from None
    show = progress.wanted(as_json=as_json, minimum=50, total=len(rows))
    with progress.progress(len(rows), "checking rows", enabled=show) as bar:
        plan = svc.import_mappings(app.engine, rows, name=file, dry_run=dry_run,
                                   replace=replace, progress=bar.update)
    if as_json:
        click.echo(json.dumps({
            "dry_run": dry_run,
            "add": [{"code_type": r.code_type, "code": r.code, "drug_id": r.drug_id,
                     "quantity": jsonable(r.quantity)} for r in plan.add],
            "update": [_as_dict(m) | {"new_quantity": jsonable(q)} for m, q in plan.update],
            "remove": [_as_dict(m) for m in plan.remove],
            "unchanged": plan.unchanged, "warnings": plan.warnings,
        }, indent=2, ensure_ascii=False))
        return
    _warn(plan.warnings)
    verb = "would" if dry_run else "did"
    for r in plan.add:
        click.echo(f"  add     {r.code_type} {r.code} -> product {r.drug_id} ({r.product}) "
                   f"x {svc.fmt_quantity(r.quantity)}")
    for m, q in plan.update:
        click.echo(f"  update  {m.code_type} {m.code} -> product {m.drug_id} ({m.product}): "
                   f"{svc.fmt_quantity(m.quantity)} -> {svc.fmt_quantity(q)}")
    for m in plan.remove:
        click.echo(f"  remove  {m.code_type} {m.code} -> product {m.drug_id} ({m.product})")
    summary = (f"{len(plan.add)} add, {len(plan.update)} update, {len(plan.remove)} remove, "
               f"{plan.unchanged} unchanged")
    if dry_run:
        click.echo(f"Dry run: {verb} apply {summary}; nothing was written.")
    else:
        click.echo(f"Imported {file}: {summary}.")


COMMANDS: list[click.Command] = [mappings]
