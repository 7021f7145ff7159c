"""Planned-versus-actual commands: ``usage show``, ``usage record``, ``report variance``."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from operator import itemgetter

import click

from ..bootstrap import App
from ..errors import ConfirmationRequiredError, InvalidInputError
from ..reports.documents import Document, render_html, template_environment
from ..reports.formatting import Column, Section, csv_rows
from ..usage import service
from ..usage import show as usage_show
from ..usage.report import GROUPINGS, VarianceGroup, VarianceReport, variance_report
from ..usage.service import MaterialInput, RecordResult
from ..usage.show import VisitUsage
from .context import pass_app
from .params import parse_date
from .preflight import preflight
from .report_cmds import OUTPUT_OPTION, write_text
from .report_cmds import report as report_group


def _costs_visible(app: App, user: str | None) -> bool:
    """Whether ``user`` may see costs: OpenEMR's ACL decides (issue 12, item 5); the user
    must be allowed to view materials at all. Without a user, costs stay hidden."""
    if not user:
        return False
    return usage_show.require_view_permission(app.unit_of_work, user).view_costs


def _signed(value: Decimal | int | None) -> str:
    if value is None:
        return "-"
    text = format(Decimal(value).normalize(), "f")
    if text in ("0", "-0"):
        return "0"
    return text if text.startswith("-") else "+" + text


def _num(value: Decimal | None) -> str:
    return "-" if value is None else format(Decimal(value).normalize(), "f")


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _signed_money(value: Decimal | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    out = [line.rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return out


def describe_usage(view: VisitUsage) -> list[str]:
    """Text form of ``usage show``."""
    lines = [f"visit pid {view.pid} encounter {view.encounter} "
             f"(costs {'shown' if view.can_see_costs else 'hidden: not permitted'})"]
    if not view.materials:
        lines.append("  no mapped products on this visit")
    rows = [
        [m.product, f"{m.code_type}:{m.code}", m.category or "-", _num(m.planned),
         _num(m.actual), _signed(m.variance), m.reason or "-", m.unit or "-",
         _money(m.unit_cost), _money(m.planned_cost), _money(m.actual_cost),
         f"{m.stock_status} ({m.current_stock})",
         ", ".join(f"{n or '#' + str(i)} x{q}{' billed' if b else ''}" for i, n, q, b in m.lots)
         or "-"]
        for m in view.materials
    ]
    if rows:
        lines += _table(["Product", "Code", "Category", "Planned", "Actual", "Variance",
                         "Reason", "Unit", "Unit cost", "Planned cost", "Actual cost",
                         "Stock", "Lots held"], rows)
    for m in view.materials:
        if m.actual is not None:
            extra = f", lot used {m.actual_lot}" if m.actual_lot else ""
            lines.append(f"  {m.product}: actual recorded by {m.recorded_by} at "
                         f"{m.recorded_at} ({m.source}){extra}"
                         + (f"; notes: {m.notes}" if m.notes else ""))
    if view.can_see_costs:
        lines.append(f"totals: planned cost {_money(view.total_planned_cost)}, actual cost "
                     f"{_money(view.total_actual_cost)}, variance "
                     f"{_signed_money(view.cost_variance)}")
    if view.history:
        lines.append("history:")
        for h in view.history:
            name = view.product_names.get(h.drug_id, f"product {h.drug_id}")
            lines.append(
                f"  {h.changed_at} {h.changed_by} ({h.source}): {name} actual "
                f"{_num(h.old_actual)} -> {_num(h.new_actual)}"
                + (f", reason {h.old_reason or '-'} -> {h.new_reason or '-'}"
                   if h.old_reason != h.new_reason else "")
                + (f", lot #{h.old_lot_id or '-'} -> #{h.new_lot_id or '-'}"
                   if h.old_lot_id != h.new_lot_id else "")
                + (f", notes: {h.new_notes}" if h.new_notes and h.new_notes != h.old_notes
                   else "")
            )
    return lines


def describe_record(result: RecordResult) -> list[str]:
    """Text form of ``usage record``."""
    lines = [f"visit pid {result.pid} encounter {result.encounter}: "
             f"{result.updated} material(s) updated"]
    for m, a in zip(result.materials, result.adjustments, strict=True):
        state = "recorded" if m.changed else "unchanged"
        lines.append(
            f"  {m.code_type}:{m.code} -> {m.product}: planned {_num(m.planned)}, actual "
            f"{_num(m.actual)}, variance {_signed(m.variance)}"
            + (f" ({m.reason})" if m.reason else "") + f" [{state}]"
        )
        if a.adjustment or a.lots:
            verb = "took" if a.adjustment > 0 else "gave back" if a.adjustment < 0 else "moved"
            lines.append(f"    stock: {verb} {abs(a.adjustment)} unit(s) ({a.reason})")
            for inv, number, qty in a.lots:
                lot = number or f"#{inv}"
                lines.append(f"      {'took' if qty > 0 else 'returned'} {abs(qty)} "
                             f"{'from' if qty > 0 else 'to'} lot {lot} (inventory {inv})")
        else:
            lines.append("    stock: no change")
    lines.append("note: " + service.PLAN_NOTE)
    return lines


@click.group("usage")
def usage() -> None:
    """Planned versus actual usage of a visit's mapped products."""


@usage.command("show")
@click.option("--pid", type=click.IntRange(min=1), required=True, help="Patient id.")
@click.option("--encounter", type=click.IntRange(min=1), required=True, help="Encounter.")
@click.option("--user", metavar="USERNAME",
              help="OpenEMR username: costs are shown only if OpenEMR's ACL allows it.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show(app: App, pid: int, encounter: int, user: str | None, as_json: bool) -> None:
    """Plan, actual, variance, reason, costs, stock and history of one visit."""
    view = usage_show.show_usage(app.unit_of_work, pid, encounter,
                              can_see_costs=_costs_visible(app, user))
    if as_json:
        click.echo(json.dumps(view.as_dict(), indent=2, ensure_ascii=False))
    else:
        for line in describe_usage(view):
            click.echo(line)


def _code(value: str) -> tuple[str, str]:
    code_type, sep, code = value.partition(":")
    if not sep or not code_type.strip() or not code.strip():
        raise InvalidInputError(f"--code must be CODE_TYPE:CODE (e.g. CPT4:15828), got {value!r}")
    return code_type.strip(), code.strip()


def _per_material(name: str, values: Sequence[str], count: int) -> list[str | None]:
    """An option given once per --code (in the same order), or not at all; '' = none."""
    if not values:
        return [None] * count
    if len(values) != count:
        raise InvalidInputError(f"--{name} must be given once per --code ({count}), "
                                f"got {len(values)}")
    return [v if v != "" else None for v in values]


def _materials(codes: tuple[str, ...], products: tuple[str, ...], actuals: tuple[str, ...],
               reasons: tuple[str, ...], notes: tuple[str, ...], lots: tuple[str, ...],
               ) -> list[MaterialInput]:
    """One material per ``--code``, with the n-th of each other option (checked)."""
    n = len(codes)
    if len(actuals) != n:
        raise InvalidInputError(f"--actual must be given once per --code ({n}), "
                                f"got {len(actuals)}")
    product_ids: list[int | None] = []
    for p in _per_material("product", products, n):
        if p is not None and not p.isdigit():
            raise InvalidInputError(f"--product must be a product id, got {p!r}")
        product_ids.append(int(p) if p is not None else None)
    return [
        MaterialInput(*_code(code), actual=actual, product=product, reason=reason,
                      notes=note, lot=lot)
        for code, actual, product, reason, note, lot in zip(
            codes, actuals, product_ids, _per_material("reason", reasons, n),
            _per_material("notes", notes, n), _per_material("lot", lots, n), strict=True)
    ]


@usage.command("record")
@click.option("--pid", type=click.IntRange(min=1), required=True, help="Patient id.")
@click.option("--encounter", type=click.IntRange(min=1), required=True, help="Encounter.")
@click.option("--code", "codes", multiple=True, required=True, metavar="TYPE:CODE",
              help="Billed code, e.g. CPT4:15828 (repeat for several materials).")
@click.option("--product", "products", multiple=True, metavar="ID",
              help="Product id, when the code maps to several products.")
@click.option("--actual", "actuals", multiple=True, required=True, metavar="Q",
              help="Quantity really used (decimal, >= 0).")
@click.option("--reason", "reasons", multiple=True, metavar="R",
              help="ADDITIONAL_USAGE, LESS_THAN_PLANNED, WASTAGE, PROCEDURE_COMPLEXITY or "
                   "OTHER (required when actual and plan differ).")
@click.option("--notes", "notes", multiple=True, metavar="TEXT", help="Free text.")
@click.option("--lot", "lots", multiple=True, metavar="LOT",
              help="Lot number actually used (or #<inventory_id>).")
@click.option("--user", required=True, metavar="USERNAME", help="OpenEMR username recording.")
@click.option("--confirm", is_flag=True,
              help="Record an implausible actual (more than 3x the plan and more than 2 "
              "packages, or an expired lot named) without asking.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def record(app: App, pid: int, encounter: int, codes: tuple[str, ...],
           products: tuple[str, ...], actuals: tuple[str, ...], reasons: tuple[str, ...],
           notes: tuple[str, ...], lots: tuple[str, ...], user: str, confirm: bool,
           as_json: bool) -> None:
    """Record what was really used (one transaction for all materials) and move stock."""
    materials = _materials(codes, products, actuals, reasons, notes, lots)
    preflight(app.engine)
    service.require_active_user(app.unit_of_work, user)
    usage_show.require_update_permission(app.unit_of_work, user)
    try:
        result = service.record_usage(app.unit_of_work, pid, encounter, materials, user=user,
                                      service_username=app.settings.service_username,
                                      confirmed=confirm)
    except ConfirmationRequiredError as exc:
        # asked at a terminal; a script must say --confirm (nothing was written)
        if not sys.stdin.isatty() or not click.confirm(f"{exc}?", default=False):
            raise ConfirmationRequiredError(f"{exc} (pass --confirm)") from None
        result = service.record_usage(app.unit_of_work, pid, encounter, materials, user=user,
                                      service_username=app.settings.service_username,
                                      confirmed=True)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False))
    else:
        for line in describe_record(result):
            click.echo(line)



def _group_dict(g: VarianceGroup) -> dict[str, object]:
    def s(v: Decimal | None) -> str | None:
        return None if v is None else format(v.normalize(), "f") if v else "0"

    return {
        "key": g.key, "records": g.records, "plannedUnits": s(g.planned_units),
        "actualUnits": s(g.actual_units), "varianceUnits": s(g.variance_units),
        "plannedCost": None if g.planned_cost is None else str(g.planned_cost),
        "actualCost": None if g.actual_cost is None else str(g.actual_cost),
        "varianceCost": None if g.variance_cost is None else str(g.variance_cost),
        "varianceByReason": {r: s(v) for r, v in g.by_reason.items()},
        "wastageRate": None if g.wastage_rate is None else str(g.wastage_rate),
    }


def render_variance(report: VarianceReport, fmt: str) -> str:
    """The report as text, csv, json or html."""
    groups = [*report.groups, report.total()]
    if fmt == "json":
        return json.dumps({
            "from": report.since.isoformat() if report.since else None,
            "to": report.until.isoformat() if report.until else None,
            "by": report.by, "costsVisible": report.can_see_costs,
            "groups": [_group_dict(g) for g in report.groups],
            "total": _group_dict(report.total()),
        }, indent=2, ensure_ascii=False) + "\n"
    headers = [report.by, "records", "planned units", "actual units", "variance",
               "planned cost", "actual cost", "cost variance", "variance by reason",
               "wastage rate"]
    rows = [
        [g.key, str(g.records), _num(g.planned_units), _num(g.actual_units),
         _signed(g.variance_units), _money(g.planned_cost), _money(g.actual_cost),
         _signed_money(g.variance_cost),
         "; ".join(f"{r} {_signed(v)}" for r, v in g.by_reason.items()) or "-",
         "-" if g.wastage_rate is None else f"{g.wastage_rate * 100:.1f}%"]
        for g in groups
    ]
    if fmt == "html":
        return _variance_html(report, headers, rows)
    if fmt == "csv":
        buffer = io.StringIO()
        csv_rows(buffer, headers, rows)  # formula-safe cells, as every report's CSV
        return buffer.getvalue()
    period = (f"{report.since or 'the beginning'} to {report.until or 'today'}")
    title = [f"Variance report by {report.by}, visits from {period} "
             f"(costs {'shown' if report.can_see_costs else 'hidden: not permitted'})"]
    return "\n".join(title + _table(headers, rows)) + "\n"


def _variance_html(report: VarianceReport, headers: list[str], rows: list[list[str]]) -> str:
    """The report in the reports' one-file HTML layout (issue 10's template)."""
    columns = [Column(h, str(i), right=0 < i < 8, get=itemgetter(i))
               for i, h in enumerate(headers)]
    notes = [] if report.can_see_costs else ["costs hidden: not permitted by OpenEMR's ACL"]
    doc = Document(
        title=f"Variance report by {report.by}",
        meta={"from": report.since or "the beginning", "to": report.until or "today",
              "by": report.by, "costs": "shown" if report.can_see_costs else "hidden"},
        sections=[Section("Planned vs actual usage", columns, rows, notes, "variance")],
    )
    return render_html(doc, template_environment(), generated=datetime.now())


@click.command("variance")
@click.option("--from", "since", callback=parse_date, metavar="DATE", help="First visit date.")
@click.option("--to", "until", callback=parse_date, metavar="DATE", help="Last visit date.")
@click.option("--by", type=click.Choice(GROUPINGS), default="product", show_default=True)
@click.option("--user", metavar="USERNAME",
              help="OpenEMR username: costs are shown only if OpenEMR's ACL allows it.")
@click.option("--format", "fmt", type=click.Choice(("text", "csv", "json", "html")),
              default="text", show_default=True)
@OUTPUT_OPTION
@pass_app
def variance(app: App, since: date | None, until: date | None, by: str, user: str | None,
             fmt: str, output: str | None) -> None:
    """Planned vs actual units and cost, variance by reason, wastage rate."""
    report = variance_report(app.engine, since=since, until=until, by=by,
                             can_see_costs=_costs_visible(app, user))
    write_text(render_variance(report, fmt), output)


report_group.add_command(variance)  # the reports' group: one ``report``

COMMANDS: list[click.Command] = [usage, report_group]
