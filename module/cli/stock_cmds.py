"""Stock commands: ``receive``, ``transfer``, ``adjust``, ``count``, ``destroy``,
``ledger``, ``valuation``, ``reorder`` and ``supplier``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import click

from ..bootstrap import App
from ..errors import InvalidInputError, PermissionDeniedError
from ..products.service import package_size_lookup
from ..reports import service as reports
from ..reports import stock_documents
from ..scanning import service as scanning
from ..stock import domain, service
from ..stock.inputs import with_package_size
from ..stock.views import packages
from . import report_cmds
from .context import pass_app
from .params import parse_date


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInputError(f"{path}: {exc.strerror or exc}") from None


@contextmanager
def _report_lines() -> Iterator[None]:
    """A file with several bad lines: list each (line and column) on stderr, then fail
    with the one-line summary."""
    try:
        yield
    except domain.FileValidationError as exc:
        if len(exc.errors) > 1:
            for error in exc.errors:
                click.echo(f"  {error}", err=True)
        raise


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _user(app: App, user: str | None) -> str:
    return user or app.settings.service_username


_user_option = click.option(
    "--user", metavar="USERNAME",
    help="OpenEMR username recorded on the rows (default: the service user).")


@click.command()
@click.option("--file", "file_path", type=click.Path(dir_okay=False),
              help="Delivery CSV (see docs/stock-csv.md): many lines, all or nothing.")
@click.option("--product", help="Product id or exact name.")
@click.option("--lot", "lot_number", help="Lot number.")
@click.option("--expires", help="Expiry date YYYY-MM-DD (after today).")
@click.option("--quantity", help="Units received.")
@click.option("--unit-cost", help="Cost per unit (not negative).")
@click.option("--warehouse", default="", help="Warehouse option id (default: the default one).")
@click.option("--supplier", default="", help="Supplier name (lead time: see 'supplier').")
@click.option("--invoice", default="", help="Supplier invoice / delivery note reference.")
@click.option("--packages",
              help="Packages received (x the product's package size or --units-per-package).")
@click.option("--units-per-package",
              help="Units in one package (default: the product's package size).")
@click.option("--scan", "scan", metavar="BARCODE",
              help="GS1 scanner output: fills product (by GTIN), lot and expiry.")
@click.option("--dry-run", is_flag=True, help="Validate and show; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_user_option
@pass_app
def receive(app: App, file_path: str | None, product: str | None, lot_number: str | None,
            expires: str | None, quantity: str | None, unit_cost: str | None, warehouse: str,
            supplier: str, invoice: str, packages: str | None, units_per_package: str | None,
            scan: str | None, dry_run: bool, as_json: bool, user: str | None) -> None:
    """Receive stock: one lot from the options or a --scan, or a delivery from --file."""
    with _report_lines():
        if scan is not None:
            if file_path or product or lot_number or units_per_package:
                raise click.UsageError("--scan gives product and lot: drop --file, --product, "
                                       "--lot and --units-per-package")
            service.preflight(app.unit_of_work)
            line = scanning.receipt_from_scan(
                app.unit_of_work, scan, today=date.today(), packages=packages,
                quantity=quantity, unit_cost=unit_cost or "", warehouse=warehouse,
                expires=expires)
            product, lot_number = line.product, line.lot_number
            expires = line.expires.isoformat()
            units_per_package = None if line.units_per_package is None else str(
                line.units_per_package)
        _receive(app, file_path, product, lot_number, expires, quantity, unit_cost, warehouse,
                 supplier, invoice, packages, units_per_package, dry_run, as_json, user,
                 source="scan" if scan is not None else None)


# long: the file and the option forms of receive, then one result as JSON or text
def _receive(app: App, file_path: str | None, product: str | None, lot_number: str | None,
             expires: str | None, quantity: str | None, unit_cost: str | None, warehouse: str,
             supplier: str, invoice: str, packages: str | None, units_per_package: str | None,
             dry_run: bool, as_json: bool, user: str | None, source: str | None = None,
             ) -> None:
    today = date.today()
    package_size = package_size_lookup(app.unit_of_work)
    if file_path:
        if any(v is not None for v in (product, lot_number, expires, quantity, unit_cost)):
            raise click.UsageError("use either --file or --product/--lot/... , not both")
        lines, errors = domain.check_delivery(_read(file_path), today=today, source=file_path,
                                              package_size=package_size)
        source = file_path
    else:
        missing = [n for n, v in (("--product", product), ("--lot", lot_number),
                                  ("--expires", expires), ("--unit-cost", unit_cost)) if not v]
        if quantity is None and packages is None:
            missing.append("--quantity")
        if missing:
            raise click.UsageError(f"missing {', '.join(missing)} (or use --file)")
        line, errors = domain.validate_receipt(
            product=product or "", lot_number=lot_number or "", expires=expires or "",
            quantity=quantity, unit_cost=unit_cost or "", today=today, warehouse=warehouse,
            packages=packages, units_per_package=with_package_size(
                units_per_package, packages, product or "", package_size))
        if errors or line is None:
            raise domain.FileValidationError("", errors)
        lines, source, errors = [line], source or "command line", []
    service.preflight(app.unit_of_work)
    result = service.receive(app.unit_of_work, lines, user=_user(app, user), today=today,
                             supplier=supplier, invoice=invoice, source=source,
                             dry_run=dry_run, prior_errors=errors)
    # the products' average and last costs come from other deliveries too: money the
    # reports' one cost check guards (the line costs are what this user typed)
    if not reports.costs_visible_to(app.engine, user):
        result = replace(result, costs={})
    if as_json:
        click.echo(json.dumps({
            "delivery_id": result.delivery_id, "dry_run": result.dry_run,
            "units": result.units, "total_cost": str(result.total_cost),
            "lines": [{"line": x.line, "drug_id": x.drug_id, "inventory_id": x.inventory_id,
                       "lot": x.lot_number, "warehouse": x.warehouse,
                       "expires": x.expires.isoformat(), "quantity": x.quantity,
                       "unit_cost": str(x.unit_cost), "new_lot": x.new_lot}
                      for x in result.lines],
            "costs": {str(k): {"average_cost": str(c.average_cost),
                               "last_cost": str(c.last_cost)}
                      for k, c in result.costs.items()},
        }, indent=2))
        return
    head = "dry run, nothing written: would receive" if dry_run else (
        f"delivery {result.delivery_id}: received")
    click.echo(f"{head} {len(result.lines)} line(s), {result.units} unit(s), "
               f"total cost {_money(result.total_cost)}")
    for x in result.lines:
        lot = "new lot" if x.new_lot else "lot"
        click.echo(f"  {x.product} lot {x.lot_number} -> {lot} {x.inventory_id} "
                   f"({x.warehouse or 'no warehouse'}), +{x.quantity} @ {x.unit_cost} "
                   f"expires {x.expires.isoformat()}")
    for drug_id, c in sorted(result.costs.items()):
        click.echo(f"  cost of {result.product_names.get(drug_id, drug_id)}: average "
                   f"{c.average_cost}, last {c.last_cost}")


@click.command()
@click.option("--lot", "inventory_id", type=click.IntRange(min=1), required=True,
              help="Source lot (inventory id).")
@click.option("--to", "to_warehouse", required=True, help="Destination warehouse option id.")
@click.option("--quantity", type=click.IntRange(min=1), required=True, help="Units to move.")
@click.option("--notes", default="", help="Comment on the transfer row.")
@_user_option
@pass_app
def transfer(app: App, inventory_id: int, to_warehouse: str, quantity: int, notes: str,
             user: str | None) -> None:
    """Move units of a lot to another warehouse (OpenEMR transfer, trans_type 4)."""
    service.preflight(app.unit_of_work)
    r = service.transfer(app.unit_of_work, inventory_id, to_warehouse, quantity,
                         user=_user(app, user), today=date.today(), notes=notes)
    kind = "new lot" if r.new_lot else "lot"
    click.echo(f"transferred {r.quantity} from lot {inventory_id} "
               f"({r.source.warehouse_id or 'no warehouse'}, now {r.source_on_hand}) to {kind} "
               f"{r.destination_id} ({to_warehouse}, now {r.destination_on_hand}); "
               f"drug_sales {r.sale_id}")


@click.command()
@click.option("--lot", "inventory_id", type=click.IntRange(min=1), required=True,
              help="Lot (inventory id).")
@click.option("--by", type=int, required=True, help="Signed change, e.g. -2 or +5.")
@click.option("--reason", required=True, type=click.Choice(domain.ADJUST_REASONS,
                                                           case_sensitive=False))
@click.option("--notes", default="", help="Free text kept with the adjustment.")
@_user_option
@pass_app
def adjust(app: App, inventory_id: int, by: int, reason: str, notes: str,
           user: str | None) -> None:
    """Adjust a lot's quantity (OpenEMR adjustment, trans_type 5); never below zero."""
    service.preflight(app.unit_of_work)
    r = service.adjust(app.unit_of_work, inventory_id, by, reason, user=_user(app, user),
                       today=date.today(), notes=notes)
    click.echo(f"lot {r.inventory_id}: {r.before} -> {r.after} ({by:+d}, {reason.upper()}); "
               f"drug_sales {r.sale_id}")


@click.command("count")
@click.option("--file", "file_path", type=click.Path(dir_okay=False),
              help="Stock-take CSV: lot_id,counted[,notes].")
@click.option("--scan", "scans", multiple=True, metavar="BARCODE",
              help="GS1 scan of one package: adds a package to its lot's count (repeatable).")
@click.option("--scans", "scans_file", type=click.File("r", encoding="utf-8"),
              help="File of scans, one per line ('-' = standard input).")
@click.option("--warehouse", default="", help="Warehouse of the scanned lots (when a lot "
              "number is in several).")
@click.option("--dry-run", is_flag=True, help="Show the variances; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_user_option
@pass_app
def count_cmd(app: App, file_path: str | None, scans: tuple[str, ...],
              scans_file: TextIO | None, warehouse: str, dry_run: bool, as_json: bool,
              user: str | None) -> None:
    """A stock take: one adjustment per lot whose counted quantity differs."""
    with _report_lines():
        scanned = [*scans, *(x.rstrip("\r\n") for x in scans_file or () if x.strip())]
        if bool(file_path) == bool(scanned):
            raise click.UsageError("give --file or --scan/--scans (one of them)")
        service.preflight(app.unit_of_work)
        if file_path:
            lines, source = domain.parse_count(_read(file_path), source=file_path), file_path
        else:
            lines = scanning.count_from_scans(app.unit_of_work, scanned, today=date.today(),
                                              warehouse=warehouse)
            source = f"scan ({len(scanned)} package(s))"
        r = service.count(app.unit_of_work, lines, user=_user(app, user), today=date.today(),
                          source=source, dry_run=dry_run)
    # values of the variances are money: the reports' one cost check decides
    _print_count(r, dry_run, as_json, reports.costs_visible_to(app.engine, user))


def _print_count(r: service.CountResult, dry_run: bool, as_json: bool,
                 show_costs: bool) -> None:
    s = r.summary

    def money(value: Decimal) -> str | None:
        return str(value) if show_costs else None

    if as_json:
        click.echo(json.dumps({
            "count_id": r.count_id, "dry_run": r.dry_run, "lots": s.lots,
            "adjusted": s.adjusted, "units_over": s.units_over, "units_short": s.units_short,
            "value_over": money(s.value_over), "value_short": money(s.value_short),
            "differences": [{"inventory_id": d.inventory_id, "on_hand": d.on_hand,
                             "counted": d.counted, "difference": d.difference,
                             "value": money(d.value)} for d in r.differences if d.difference],
        }, indent=2))
        return
    head = "dry run, nothing written:" if dry_run else f"stock take {r.count_id}:"
    click.echo(f"{head} {s.lots} lot(s) counted, {s.adjusted} adjusted")

    def shown(value: Decimal) -> str:
        return f" ({_money(value)})" if show_costs else ""

    for d in r.differences:
        if d.difference:
            click.echo(f"  lot {d.inventory_id}: on hand {d.on_hand}, counted {d.counted}, "
                       f"{d.difference:+d}{shown(d.value)}")
    over = f" {_money(s.value_over)}" if show_costs else ""
    short = f" {_money(s.value_short)}" if show_costs else ""
    click.echo(f"  over {s.units_over} unit(s){over}, short {s.units_short} unit(s){short}, "
               f"net {s.net_units:+d}{shown(s.net_value)}")


@click.command()
@click.option("--lot", "inventory_id", type=click.IntRange(min=1), required=True,
              help="Lot (inventory id).")
@click.option("--method", required=True, help="Method of destruction.")
@click.option("--witness", required=True, help="Witness name.")
@click.option("--notes", default="", help="Notes.")
@_user_option
@pass_app
def destroy(app: App, inventory_id: int, method: str, witness: str, notes: str,
            user: str | None) -> None:
    """Destroy a lot (as OpenEMR's Destroy Lot screen does)."""
    service.preflight(app.unit_of_work)
    r = service.destroy(app.unit_of_work, inventory_id, method=method, witness=witness,
                        user=_user(app, user), today=date.today(), notes=notes)
    click.echo(f"lot {r.inventory_id} destroyed on {r.destroy_date.isoformat()} "
               f"({r.on_hand} unit(s) out of usable stock)")


_report_output = [report_cmds.FORMAT_OPTION, report_cmds.OUTPUT_OPTION]
_with = report_cmds.with_options


@click.command()
@click.option("--product", "drug_id", type=click.IntRange(min=1), help="Product id.")
@click.option("--lot", "inventory_id", type=click.IntRange(min=1), help="Lot (inventory id).")
@click.option("--from", "since", callback=parse_date, metavar="DATE",
              help="From date (YYYY-MM-DD).")
@click.option("--to", "until", callback=parse_date, metavar="DATE", help="To date, inclusive.")
@click.option("--limit", type=click.IntRange(min=1), default=10000, show_default=True)
@_with(_report_output)
@report_cmds.USER_OPTION
@pass_app
def ledger(app: App, drug_id: int | None, inventory_id: int | None, since: date | None,
           until: date | None, limit: int, fmt: str, output: str | None,
           user: str | None) -> None:
    """List the immutable movement ledger (oldest first)."""
    service.preflight(app.unit_of_work)
    show_costs = reports.costs_visible_to(app.engine, user)
    rows = service.ledger(app.unit_of_work, drug_id=drug_id, inventory_id=inventory_id,
                          since=since, until=until, limit=limit)
    report_cmds.write_document(
        lambda: stock_documents.ledger_document(rows, show_costs=show_costs), fmt, output)


def _valuation(app: App, by: str, fmt: str, output: str | None, user: str | None) -> None:
    service.preflight(app.unit_of_work)
    if not reports.costs_visible_to(app.engine, user):
        raise PermissionDeniedError(
            f"user {user!r} may not see the stock valuation: OpenEMR's access control "
            "grants neither inventory/purchases nor acct/rep_a")
    lines = service.valuation(app.unit_of_work, by=by)
    packs = reports.package_settings(packages(app.unit_of_work))
    report_cmds.write_document(
        lambda: stock_documents.valuation_document(lines, by=by, today=date.today(),
                                                   packs=packs), fmt, output)


_by_option = click.option("--by", type=click.Choice(service.VALUATION_GROUPS),
                          default="product", show_default=True)


@click.command()
@_by_option
@_with(_report_output)
@report_cmds.USER_OPTION
@pass_app
def valuation(app: App, by: str, fmt: str, output: str | None, user: str | None) -> None:
    """Stock value at weighted average cost and at lot cost."""
    _valuation(app, by, fmt, output, user)


@click.command()
@click.option("--days", type=click.IntRange(min=1), default=90, show_default=True,
              help="Usage window.")
@_with(_report_output)
@click.option("--all", "show_all", is_flag=True, help="List every product, not only what to "
              "order now.")
@click.option("--apply", "apply", is_flag=True,
              help="Write the computed reorder points to drugs.reorder_point (default: "
              "show them, write nothing).")
@pass_app
def reorder(app: App, days: int, fmt: str, output: str | None, show_all: bool,
            apply: bool) -> None:
    """What to order now, per supplier (seed 004 reorder point)."""
    service.preflight(app.unit_of_work)
    suggestions, changed = service.reorder(app.unit_of_work, days=days, apply=apply)
    shown = [s for s in suggestions if show_all or s.order_now]
    packs = reports.package_settings(packages(app.unit_of_work))
    report_cmds.write_document(
        lambda: stock_documents.reorder_document(suggestions, shown, days=days,
                                                 today=date.today(), packs=packs),
        fmt, output)
    verb = "reorder point(s) written to drugs.reorder_point" if apply else (
        "reorder point(s) would change (use --apply to write)")
    click.echo(f"{changed} {verb}", err=fmt != "text" or output is not None)


@click.command()
@click.option("--name", required=True, help="Supplier name (as in the products' supplier).")
@click.option("--lead-time-days", type=click.IntRange(min=0), required=True)
@pass_app
def supplier(app: App, name: str, lead_time_days: int) -> None:
    """Set a supplier's delivery lead time (default 7 days)."""
    service.preflight(app.unit_of_work)
    service.set_lead_time(app.unit_of_work, name, lead_time_days)
    click.echo(f"supplier {name.strip()}: lead time {lead_time_days} day(s)")


# The spelling is ``report valuation``: the same command, also under ``report``.
report_cmds.report.add_command(valuation, "valuation")

COMMANDS: list[click.Command] = [
    receive, transfer, adjust, count_cmd, destroy, ledger, valuation, reorder, supplier,
]
