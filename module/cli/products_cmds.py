"""``products list|show|add|set``: products without SQL (issue 18 item 1).

The group is exported as :data:`products` so other command modules can add to it
(``products convert``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

from ..bootstrap import App
from ..products import service
from ..products.domain import Product, ProductChange, describe_stock, normalize_gtin, parse_decimal
from ..products.repository import NewDrug
from ..scanning.domain import parse_scan
from .containers_cmds import convert_cmd
from .context import pass_app


@click.group()
def products() -> None:
    """Products: counting unit, package, beyond-use time, levels and GTINs."""


def _settings_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``add`` and ``set`` share (None = not given)."""
    options = [
        click.option("--unit", "counting_unit", help="Counting unit, e.g. U, syringe, '0.1 mL'."),
        click.option("--package-unit", help="What is bought, e.g. vial, box (default package)."),
        click.option("--package-size", type=click.IntRange(min=1),
                     help="Counting units in one package (e.g. 100 U per vial)."),
        click.option("--beyond-use-hours", type=click.IntRange(min=1),
                     help="Hours an opened container may be used."),
        click.option("--no-beyond-use", is_flag=True, help="Clear the beyond-use time."),
        click.option("--diluent-ml", help="Reconstitution volume per package (mL)."),
        click.option("--single-patient/--no-single-patient", default=None,
                     help="Each container serves one visit; the rest is waste."),
        click.option("--category", help="Category (drugs.aesthetic_category)."),
        click.option("--cost", "unit_cost", help="Unit cost (drugs.unit_cost)."),
        click.option("--supplier", help="Supplier name."),
        click.option("--reorder-point", type=click.IntRange(min=0),
                     help="OpenEMR's reorder point (drugs.reorder_point)."),
        click.option("--min", "min_level", type=click.IntRange(min=0), help="Minimum level."),
        click.option("--max", "max_level", type=click.IntRange(min=0),
                     help="OpenEMR's maximum level (drugs.max_level)."),
        click.option("--gtin", "gtins", multiple=True,
                     help="GTIN printed on the package, or a scan of it (repeatable; "
                     "check digit verified)."),
        click.option("--yes", "confirmed", is_flag=True,
                     help="Confirm a GTIN whose NDC differs from the product's."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _change(kw: dict[str, Any]) -> ProductChange:
    return ProductChange(
        counting_unit=None if kw["counting_unit"] is None else kw["counting_unit"].strip(),
        package_unit=None if kw["package_unit"] is None else kw["package_unit"].strip(),
        units_per_package=kw["package_size"], beyond_use_hours=kw["beyond_use_hours"],
        clear_beyond_use=kw["no_beyond_use"],
        diluent_ml=None if kw["diluent_ml"] is None else parse_decimal(kw["diluent_ml"],
                                                                       "--diluent-ml"),
        single_patient=kw["single_patient"],
        category=None if kw["category"] is None else kw["category"].strip(),
        unit_cost=None if kw["unit_cost"] is None else parse_decimal(kw["unit_cost"], "--cost"),
        supplier=None if kw["supplier"] is None else kw["supplier"].strip(),
        reorder_point=kw["reorder_point"], min_level=kw["min_level"],
        max_level=kw["max_level"], gtins=tuple(_gtin(g) for g in kw["gtins"]),
    )


def _gtin(text: str) -> str:
    """A GTIN as digits, or the GTIN (AI 01) of a scanned GS1 barcode, so the box at
    hand can be scanned into ``--gtin``."""
    if text.strip().replace(" ", "").replace("-", "").isdigit():
        return normalize_gtin(text)
    return parse_scan(text).gtin


def _lines(p: Product) -> list[str]:
    s = p.settings
    counted = (f"counted in {s.counting_unit}, {s.units_per_package} {s.counting_unit} per "
               f"{s.package_name}" if s.counted_in_units else
               "counted as OpenEMR counts" + (
                   f" ({s.units_per_package} per {s.package_name})"
                   if s.units_per_package > 1 else ""))
    out = [f"product {p.drug_id}: {p.name}" + ("" if p.active else " (inactive)"),
           f"  {counted}",
           f"  stock {describe_stock(p.on_hand, s)}"
           + (f" ({p.on_hand} {s.counting_unit})"
              if s.counted_in_units and abs(p.on_hand) >= s.units_per_package else ""),
           f"  reorder point {p.reorder_point or '-'}, min {_dash(s.min_level)}, "
           f"max {p.max_level or '-'}",
           f"  beyond use {_dash(s.beyond_use_hours)} h, diluent {_dash(s.diluent_ml)} mL, "
           f"single patient {'yes' if s.single_patient else 'no'}",
           f"  category {p.category or '-'}, cost {p.unit_cost}, supplier {p.supplier or '-'}, "
           f"NDC {p.ndc_number or '-'}",
           f"  GTIN {', '.join(p.gtins) if p.gtins else '-'}"]
    return out


def _dash(value: object) -> str:
    return "-" if value is None else str(value)


@products.command("list")
@click.option("--all", "include_inactive", is_flag=True, help="Include inactive products.")
@click.option("--category", help="Only this category.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def list_cmd(app: App, include_inactive: bool, category: str | None, as_json: bool) -> None:
    """Products with their package, stock and GTINs."""
    service.preflight(app.unit_of_work)
    found = service.list_products(app.unit_of_work, include_inactive=include_inactive,
                                  category=category)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in found], indent=2))
        return
    click.echo(f"{'id':>5}  {'name':<28} {'unit':<8} {'package':<14} {'stock':<18} gtins")
    for p in found:
        s = p.settings
        package = (f"{s.units_per_package} / {s.package_name}"
                   if s.units_per_package > 1 else "-")
        click.echo(f"{p.drug_id:>5}  {p.name[:28]:<28} {s.counting_unit or '-':<8} "
                   f"{package[:14]:<14} {describe_stock(p.on_hand, s)[:18]:<18} "
                   f"{len(p.gtins)}")
    click.echo(f"{len(found)} product(s)")


@products.command("show")
@click.argument("product")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show_cmd(app: App, product: str, as_json: bool) -> None:
    """One product (by id or exact name)."""
    service.preflight(app.unit_of_work)
    p = service.show_product(app.unit_of_work, product)
    if as_json:
        click.echo(json.dumps(p.as_dict(), indent=2))
        return
    for line in _lines(p):
        click.echo(line)


@products.command("add")
@click.argument("name")
@click.option("--ndc", default="", help="NDC number (drugs.ndc_number).")
@click.option("--form", default="", help="OpenEMR drug form (list drug_form option id).")
@click.option("--size", default="", help="OpenEMR size.")
@click.option("--route", default="", help="OpenEMR route (list drug_route option id).")
@click.option("--allow-combining/--no-allow-combining", default=False,
              help="Let one sale take several lots (OpenEMR's Combining Lots).")
@_settings_options
@pass_app
def add_cmd(app: App, name: str, ndc: str, form: str, size: str, route: str,
            allow_combining: bool, **kw: Any) -> None:
    """Add a product as OpenEMR's drug screen does, with the module's settings."""
    change = _change(kw)
    drug = NewDrug(name=name.strip(), ndc_number=ndc.strip(), form=form.strip(),
                   size=size.strip(), route=route.strip(),
                   reorder_point=change.reorder_point or 0, max_level=change.max_level or 0,
                   allow_combining=allow_combining)
    service.preflight(app.unit_of_work)
    result = service.add_product(app.unit_of_work, drug, change, confirmed=kw["confirmed"])
    _report("added", result)


@products.command("set")
@click.argument("product")
@_settings_options
@click.option("--remove-gtin", "remove_gtins", multiple=True, help="Unlink a GTIN.")
@pass_app
def set_cmd(app: App, product: str, remove_gtins: tuple[str, ...], **kw: Any) -> None:
    """Change a product's unit, package, beyond-use time, levels, cost, supplier, GTINs."""
    change = _change(kw)
    service.preflight(app.unit_of_work)
    result = service.set_product(app.unit_of_work, product, change,
                                 remove_gtins=[_gtin(g) for g in remove_gtins],
                                 confirmed=kw["confirmed"])
    _report("changed", result)


def _report(verb: str, result: service.ProductResult) -> None:
    p = result.product
    click.echo(f"{verb} product {p.drug_id}")
    for line in _lines(p)[1:]:
        click.echo(line)
    for note in result.notes:
        click.echo(f"note: {note}")


# `products convert` lives with the containers it creates (module/containers/convert.py)
products.add_command(convert_cmd)

COMMANDS: list[click.Command] = [products]
