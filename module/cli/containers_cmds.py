"""Container commands: ``containers`` (list, ``close``, ``show``), ``use`` (stock used
without a patient), ``report waste``, and ``convert`` (ready for the ``products``
group)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import click

from ..bootstrap import App
from ..consumption.containers import convert as convert_service
from ..consumption.containers import service
from ..consumption.containers.repository import ContainerLine, PatientDraw
from ..consumption.policy import lot_policy
from ..reports import service as report_service
from ..reports.formatting import jsonable
from ..reports.waste import GROUPINGS, waste_report
from . import report_cmds
from .context import pass_app
from .params import parse_date
from .stock_cmds import _user, _user_option


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")


def _line_dict(line: ContainerLine, now: datetime) -> dict[str, Any]:
    c = line.container
    left = c.beyond_use_at - now if c.beyond_use_at is not None and c.is_open else None
    return {
        "id": c.id, "drug_id": c.drug_id, "product": line.product, "unit": line.counting_unit,
        "lot_id": c.inventory_id, "lot_number": line.lot_number, "warehouse": c.warehouse_id,
        "opened_at": c.opened_at, "beyond_use_at": c.beyond_use_at, "units": c.units,
        "units_drawn": c.units_drawn, "units_wasted": c.units_wasted,
        "units_left": c.units_left, "patients": line.patients,
        "hours_left": None if left is None else round(left.total_seconds() / 3600, 1),
        "closed_at": c.closed_at, "close_reason": c.close_reason,
    }


@click.group(invoke_without_command=True)
@click.option("--product", "drug_id", type=click.IntRange(min=1), help="Product id.")
@click.option("--all", "show_all", is_flag=True, help="Closed containers too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def containers(ctx: click.Context, drug_id: int | None, show_all: bool, as_json: bool) -> None:
    """Open (or all) containers: product, lot, warehouse, opened at, beyond use at,
    units drawn and left, patients served. Subcommands: close, show."""
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    service.preflight(app.unit_of_work)
    now = datetime.now()
    lines = [_line_dict(x, now) for x in service.list_containers(
        app.unit_of_work, drug_id=drug_id, include_closed=show_all)]
    if as_json:
        click.echo(json.dumps([{k: jsonable(v) for k, v in d.items()} for d in lines],
                              indent=2))
        return
    if not lines:
        click.echo("no open containers" if not show_all else "no containers")
        return
    click.echo(f"{'ID':>5}  {'Product':<20} {'Lot':<10} {'Whs':<8} {'Opened':<16} "
               f"{'Beyond use':<16} {'Drawn':>6} {'Left':>5} {'Pts':>4}  Status")
    for d in lines:
        status = (f"closed {d['close_reason']}" if d["closed_at"] else
                  "past beyond-use" if d["hours_left"] is not None and d["hours_left"] <= 0
                  else "open" if d["hours_left"] is None else f"{d['hours_left']:g} h left")
        click.echo(f"{d['id']:>5}  {d['product'][:20]:<20} {d['lot_number'][:10]:<10} "
                   f"{d['warehouse'][:8]:<8} {_when(d['opened_at']):<16} "
                   f"{_when(d['beyond_use_at']):<16} {d['units_drawn']:>6} "
                   f"{d['units_left']:>5} {d['patients']:>4}  {status}")


@containers.command("close")
@click.argument("container_id", type=click.IntRange(min=1))
@click.option("--waste", type=click.IntRange(min=0),
              help="Units thrown away (default: all that is left).")
@click.option("--reason", required=True,
              type=click.Choice(service.domain.CLOSE_REASONS, case_sensitive=False))
@click.option("--notes", default="", help="Free text kept with the adjustment.")
@_user_option
@pass_app
def close_cmd(app: App, container_id: int, waste: int | None, reason: str, notes: str,
              user: str | None) -> None:
    """Close a container by hand; what is left is written off (OpenEMR adjustment)."""
    service.preflight(app.unit_of_work)
    r = service.close(app.unit_of_work, container_id, reason=reason, waste=waste,
                      user=_user(app, user), now=datetime.now(), notes=notes)
    extra = f", {r.unaccounted} unaccounted (COUNT)" if r.unaccounted else ""
    click.echo(f"container {r.container_id} closed ({r.reason}): {r.waste} unit(s) "
               f"wasted{extra}; drug_sales {', '.join(map(str, r.sale_ids)) or '-'}")


def _draw_dict(d: PatientDraw) -> dict[str, Any]:
    return {"container_id": d.container_id, "pid": d.pid, "encounter": d.encounter,
            "patient": d.patient or ("(stock use)" if not d.pid else ""), "units": d.units,
            "drawn_at": d.drawn_at, "sale_id": d.sale_id}


@containers.command("show")
@click.argument("container_id", type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show_cmd(app: App, container_id: int, as_json: bool) -> None:
    """The patients who shared one container (a recall of one vial)."""
    service.preflight(app.unit_of_work)
    with app.unit_of_work() as uow:
        draws = [_draw_dict(d) for d in service.patients_of_container(uow, container_id)]
    if as_json:
        click.echo(json.dumps([{k: jsonable(v) for k, v in d.items()} for d in draws],
                              indent=2))
        return
    click.echo(f"container {container_id}: {len(draws)} draw(s)")
    for d in draws:
        click.echo(f"  {_when(d['drawn_at'])}  pid {d['pid']:<6} enc {d['encounter']:<6} "
                   f"{d['units']:>5} unit(s)  {d['patient']}  (drug_sales {d['sale_id']})")


@click.command("use")
@click.option("--product", "drug_id", type=click.IntRange(min=1), required=True,
              help="Product id.")
@click.option("--quantity", type=click.IntRange(min=1), required=True,
              help="Counting units used.")
@click.option("--reason", required=True, help="Why (training, demo, department...).")
@click.option("--warehouse", default="", help="Warehouse option id (default: the default one).")
@_user_option
@pass_app
def use_cmd(app: App, drug_id: int, quantity: int, reason: str, warehouse: str,
            user: str | None) -> None:
    """Stock used without a patient (OpenEMR consumption, trans_type 7)."""
    service.preflight(app.unit_of_work)
    r = service.use(app.unit_of_work, drug_id, quantity, reason, user=_user(app, user),
                    now=datetime.now(), warehouse=warehouse, policy=lot_policy(app.settings))
    where = (f"; containers {', '.join(map(str, r.drawn_from))}"
             + (f" (opened {', '.join(map(str, r.opened))})" if r.opened else "")
             if r.counted_in_units else "")
    click.echo(f"product {r.drug_id}: {r.units} unit(s) used; drug_sales "
               f"{', '.join(map(str, r.sale_ids))}{where}")


@click.command("convert")
@click.argument("drug_id", type=click.IntRange(min=1))
@click.option("--package-size", type=click.IntRange(min=2), required=True,
              help="Counting units in one package (e.g. 100 U per vial).")
@click.option("--unit", default="U", show_default=True, help="The counting unit.")
@click.option("--package-unit", default="vial", show_default=True, help="The package's name.")
@click.option("--dry-run", is_flag=True, help="Show what would change; write nothing.")
@_user_option
@pass_app
def convert_cmd(app: App, drug_id: int, package_size: int, unit: str, package_unit: str,
                dry_run: bool, user: str | None) -> None:
    """Turn a product counted in packages into counting units (one transaction)."""
    service.preflight(app.unit_of_work)
    r = convert_service.convert(app.unit_of_work, drug_id, package_size, unit=unit,
                                package_unit=package_unit, user=_user(app, user),
                                dry_run=dry_run)
    head = "would convert" if r.dry_run else "converted"
    click.echo(f"{head} product {r.drug_id} ({r.product}) to {r.counting_unit}, "
               f"{r.package_size} per {package_unit}")
    for inv, (before, after) in sorted(r.lots.items()):
        click.echo(f"  lot {inv}: on hand {before} -> {after} {r.counting_unit}")
    click.echo("  rows: " + ", ".join(f"{t} {n}" for t, n in r.rows.items() if n))


@click.command("waste")
@click.option("--by", type=click.Choice(GROUPINGS), default="product", show_default=True)
@click.option("--from", "start", callback=parse_date, metavar="DATE",
              help="From date (default: 30 days before --to).")
@click.option("--to", "end", callback=parse_date, metavar="DATE", help="To date (today).")
@click.option("--format", "fmt", type=click.Choice(("text", "csv", "json", "html")),
              default="text", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), metavar="FILE",
              help="Write to FILE instead of standard output.")
@pass_app
def waste_cmd(app: App, by: str, start: date | None, end: date | None, fmt: str,
              output: str | None) -> None:
    """Units and value wasted from opened containers, and the share of units opened."""
    report_service.require_migrated(app.engine)
    service.preflight(app.unit_of_work)
    s, e = report_cmds._period_or_default(start, end, 30)
    with report_service.read_only(app.engine) as repo:
        report_cmds._output(lambda: waste_report(repo.conn, by=by, start=s, end=e), fmt,
                            output)


report_cmds.report.add_command(waste_cmd)

COMMANDS: list[click.Command] = [containers, use_cmd]
