"""Read-only views: ``stock``, ``recall`` and ``report ...``.

Every command here runs in a read-only transaction (the database refuses any
write) and prints text, CSV, JSON or (reports) one self-contained HTML file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import IO, Any

import click

from ..bootstrap import App
from ..reports import documents, service
from ..reports.documents import Document
from ..reports.formatting import render_sections_text, write_csv, write_json
from .context import pass_app
from .params import parse_date

FORMATS = ("text", "csv", "json")
# every report takes these (``stock``, ``report ...``, ``valuation``, ``ledger``, ...)
REPORT_FORMATS = (*FORMATS, "html")
FORMAT_OPTION = click.option("--format", "fmt", type=click.Choice(REPORT_FORMATS),
                             default="text", show_default=True)
OUTPUT_OPTION = click.option("--output", type=click.Path(dir_okay=False, writable=True),
                             metavar="FILE", help="Write to FILE instead of standard output.")

def _emit(doc: Document, fmt: str, out: IO[str]) -> None:
    if fmt == "text" and doc.text is not None:
        for line in doc.text:
            out.write(line + "\n")
    elif fmt == "json":
        write_json(doc.sections, out, doc.meta)
    elif fmt == "csv":
        write_csv(doc.sections, out)
    elif fmt == "html":
        out.write(documents.render_html(doc, documents.template_environment(),
                                        generated=datetime.now()))
    else:
        for line in render_sections_text(doc.sections):
            out.write(line + "\n")


def _write(render: Callable[[IO[str]], object], output: str | None) -> None:
    """Write to stdout or FILE (renamed into place only once completely written)."""
    if output is None:
        render(sys.stdout)
        return
    # streamed into a temporary file next to FILE, renamed once complete: a failed
    # report never leaves half a file behind
    partial = f"{output}.partial"
    try:
        with open(partial, "w", encoding="utf-8", newline="") as fh:
            render(fh)
        os.replace(partial, output)
    except OSError as exc:
        raise click.ClickException(f"cannot write {output}: {exc.strerror}") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    click.echo(f"wrote {output}", err=True)


def _output(doc_builder: Callable[[], Document], fmt: str, output: str | None) -> None:
    """Build the document inside the caller's read-only transaction and write it to
    stdout or FILE (written only once the whole document is rendered)."""
    _write(lambda out: _emit(doc_builder(), fmt, out), output)


def write_text(text: str, output: str | None) -> None:
    """An already rendered report to stdout or FILE, as :func:`write_document` does."""
    _write(lambda out: out.write(text), output)


write_document = _output  # the one writer of every report command (stock_cmds too)

# -- stock -------------------------------------------------------------------------
@click.command()
@click.option("--product", help="Product id or exact name.")
@click.option("--warehouse", help="Warehouse id (list_options option_id), e.g. onsite.")
@click.option("--lots", is_flag=True, help="List every lot with stock too.")
@FORMAT_OPTION
@OUTPUT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@pass_app
def stock(app: App, product: str | None, warehouse: str | None, lots: bool, fmt: str,
          output: str | None, as_json: bool) -> None:
    """Current stock per product: usable and expired on hand, status, days of cover."""
    service.require_migrated(app.engine)
    today = date.today()
    wanted = service.parse_product(product)
    with service.read_only(app.engine) as repo:
        rows = service.stock_rows(repo, today=today, product=wanted, warehouse=warehouse)
        lot_rows = (service.stock_lots(repo, today=today, product=wanted, warehouse=warehouse)
                    if lots else None)
        _output(lambda: documents.stock_document(rows, lot_rows, today=today),
                "json" if as_json else fmt, output)


# -- recall ------------------------------------------------------------------------
@click.command()
@click.option("--lot", help="Lot number (compared as the database compares it).")
@click.option("--patient", "pid", type=click.IntRange(min=1), help="Patient id (pid).")
@click.option("--product", help="Limit --lot to this product (id or exact name).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@pass_app
def recall(app: App, lot: str | None, pid: int | None, product: str | None, fmt: str,
           as_json: bool) -> None:
    """Who received a lot (--lot), or which lots a patient received (--patient)."""
    if (lot is None) == (pid is None):
        raise click.UsageError("give exactly one of --lot LOT or --patient PID")
    if pid is not None and product is not None:
        raise click.UsageError("--product goes with --lot")
    service.require_migrated(app.engine)
    fmt = "json" if as_json else fmt
    with service.read_only(app.engine) as repo:
        if lot is not None:
            result = service.recall_lot(repo, lot, today=date.today(),
                                        product=service.parse_product(product))
            _output(lambda: documents.lot_recall_document(result), fmt, None)
        else:
            assert pid is not None
            lines = service.recall_patient(repo, pid)
            _output(lambda: documents.patient_recall_document(pid, lines), fmt, None)


# -- report ------------------------------------------------------------------------
_period = [
    click.option("--from", "start", callback=parse_date, metavar="DATE",
                 help="First day (YYYY-MM-DD)."),
    click.option("--to", "end", callback=parse_date, metavar="DATE",
                 help="Last day (YYYY-MM-DD; default today)."),
]
_out = [
    FORMAT_OPTION,
    OUTPUT_OPTION,
    click.option("--json", "as_json", is_flag=True, help="Same as --format json."),
]


def _options(options: list[Any]) -> Callable[[Any], Any]:
    """Apply click options in the order listed."""
    def wrap(f: Any) -> Any:
        for option in reversed(options):
            f = option(f)
        return f
    return wrap


with_options = _options


def _period_or_default(start: date | None, end: date | None, default_days: int
                       ) -> tuple[date, date]:
    end = end or date.today()
    start = start or end - timedelta(days=default_days)
    if start > end:
        raise click.UsageError(f"--from {start} is after --to {end}")
    return start, end


@click.group()
def report() -> None:
    """Reports: stock, expiring, activity, usage, shortages, waste, all (text/csv/json/html)."""


USER_OPTION = click.option(
    "--user", metavar="USERNAME",
    help="OpenEMR username: costs and values are shown only if OpenEMR's ACL allows it "
    "(inventory/purchases or acct/rep_a); without it, the database operator sees them.")


def _build(app: App, kind: str, start: date | None, end: date | None,
           horizon: int | None, product: str | None,
           user: str | None = None) -> Callable[[Any], Document]:
    today = date.today()
    if horizon is None:
        horizon = app.settings.get_int("expiry_horizon_days", 30, minimum=0)
    wanted = service.parse_product(product)

    def stock_doc(repo: Any) -> Document:
        return documents.stock_document(service.stock_rows(repo, today=today, product=wanted),
                                        None, today=today)

    def expiring_doc(repo: Any) -> Document:
        return documents.expiring_document(
            service.expiring_lots(repo, today=today, horizon_days=horizon), today=today,
            horizon_days=horizon, show_costs=service.costs_visible(repo.conn, user))

    def activity_doc(repo: Any) -> Document:
        s, e = _period_or_default(start, end, 30)
        return documents.activity_document(
            service.activity_rows(repo, start=s, end=e, product=wanted), start=s, end=e)

    def usage_doc(repo: Any) -> Document:
        s, e = _period_or_default(start, end, 364)
        return documents.usage_document(service.usage_report(repo, start=s, end=e),
                                        start=s, end=e)

    def shortages_doc(repo: Any) -> Document:
        return documents.shortages_document(service.shortages(repo), today=today)

    builders = {"stock": stock_doc, "expiring": expiring_doc, "activity": activity_doc,
                "usage": usage_doc, "shortages": shortages_doc}
    if kind == "all":
        def all_doc(repo: Any) -> Document:
            parts = [b(repo) for b in builders.values()]
            return documents.combined_document(parts, title="Aesthetic inventory report",
                                               meta={"date": today})
        return all_doc
    return builders[kind]


def _report_command(kind: str, doc: str, *, period: bool, horizon: bool,
                    product: bool, money: bool = False) -> click.Command:
    options: list[Any] = list(_out)
    if money:
        options.append(USER_OPTION)
    if period:
        options = _period + options
    if horizon:
        options.append(click.option("--horizon-days", "horizon", type=click.IntRange(min=0),
                                    help="Days ahead (default: the alert horizon, 30)."))
    if product:
        options.append(click.option("--product", help="Product id or exact name."))

    @_options(options)
    @pass_app
    def command(app: App, fmt: str, output: str | None, as_json: bool,
                start: date | None = None,
                end: date | None = None, horizon: int | None = None,
                product: str | None = None, user: str | None = None) -> None:
        service.require_migrated(app.engine)
        build = _build(app, kind, start, end, horizon, product, user)
        with service.read_only(app.engine) as repo:
            _output(lambda: build(repo), "json" if as_json else fmt, output)

    command.__doc__ = doc
    return click.command(name=kind)(command)


for _kind, _doc, _p, _h, _pr in (
    ("stock", "Stock per product with a stock-vs-reorder-point chart (html).", False, False,
     True),
    ("expiring", "Lots expiring within the horizon and expired lots on hand, with value.",
     False, True, False),
    ("activity", "Movements per product classified as OpenEMR's Inventory Activity report "
     "(default: the last 30 days).", True, False, True),
    ("usage", "Units used per product, code, provider and month (default: the last year).",
     True, False, False),
    ("shortages", "Open shortages with the visits waiting for stock.", False, False, False),
    ("all", "Every report in one document (stock, expiring, activity, usage, shortages).",
     True, True, False),
):
    report.add_command(_report_command(_kind, _doc, period=_p, horizon=_h, product=_pr,
                                       money=_kind in ("expiring", "all")))


COMMANDS: list[click.Command] = [stock, report]  # recall: cli/recall_cmds.py
