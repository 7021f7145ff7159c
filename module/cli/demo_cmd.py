"""The ``demo`` command: prints what :mod:`aesthetic_inventory.demo` does."""

from __future__ import annotations

from collections.abc import Sequence

import click

from .. import demo as demo_service
from ..bootstrap import App
from ..demo import StockLine
from .context import pass_app

_HEADERS = (
    "Product",
    "Category",
    "Lot",
    "Expires",
    "Warehouse",
    "On hand",
    "Unit cost",
    "Supplier",
)


def format_stock_table(lines: Sequence[StockLine]) -> list[str]:
    """The stock table as fixed-width text lines."""
    rows = [
        (
            line.product,
            line.category,
            line.lot_number or "",
            line.expiration.isoformat() if line.expiration else "",
            line.warehouse,
            str(line.on_hand),
            f"{line.unit_cost:.2f}",
            line.supplier,
        )
        for line in lines
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(_HEADERS, *rows, strict=False)]
    right = {5, 6}  # numbers align right

    def fmt(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [fmt(_HEADERS), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


@click.command()
@pass_app
def demo(app: App) -> None:
    """The whole story on a throwaway database (private server unless --database-url)."""
    url = app.settings.database_url
    click.echo(
        "Starting a private MariaDB server in a temporary directory..."
        if url is None
        else "Using a scratch database on the given server..."
    )
    with demo_service.demo_database(url) as ctx:
        click.echo(f"Database: {ctx.database_url_masked} (OpenEMR-compatible fixture schema)")
        prepared = demo_service.prepare(ctx)
        click.echo("\n== migrate ==")
        for report in prepared.migration.files:
            click.echo(f"{report.name}: {report.executed} statement(s) run")
        if prepared.migration.triggers is not None:
            click.echo(f"triggers: {prepared.migration.triggers.message}")
        click.echo("\n== sample data ==")
        inserted = [s.message for s in prepared.sample.steps if s.ran]
        click.echo(f"{len(inserted)} statement(s): 3 products, 3 lots, 3 CPT4 codes, 3 mappings")
        click.echo("\n== stock ==")
        for line in format_stock_table(demo_service.stock_table(ctx.engine)):
            click.echo(line)
        for step in demo_service.EXTRA_STEPS:
            click.echo(f"\n== {step.title} ==")
            for line in step.run(ctx):
                click.echo(line)
            if step.show_stock_after:
                click.echo("")
                for line in format_stock_table(demo_service.stock_table(ctx.engine)):
                    click.echo(line)
    click.echo(
        "\nDone: private server stopped and removed."
        if url is None
        else "\nDone: scratch database dropped."
    )


COMMANDS: list[click.Command] = [demo]
