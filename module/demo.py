"""The demo as a service: a throwaway OpenEMR-compatible database, migrated and
loaded with the sample data, plus extension steps (fee-sheet save, alert scan).

Nothing here prints: :func:`demo_database` yields a :class:`DemoContext`, the
functions return data, and ``aesthetic_inventory.cli.demo_cmd`` renders it.

Where the database comes from:

* no URL: a :class:`~aesthetic_inventory.private_server.PrivateServer` in a
  temporary directory, stopped and deleted at the end;
* a URL: that server, in a new scratch database ``aesthetic_inventory_demo_<random>``
  that is dropped at the end (the database named in the URL is never touched).

Cleanup runs on success, on error and on Ctrl-C (``finally``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.engine import URL, Engine

from . import scratch
from .alerts.demo import demo_alert_lines
from .bootstrap import build_app
from .consumption.demo import demo_fee_sheet_lines
from .db import connect, create_db_engine, mask_url
from .demo_repository import DemoRepository, StockLine
from .install import service
from .migrations import runner
from .private_server import PrivateServer

SCRATCH_PREFIX = "aesthetic_inventory_demo"


@dataclass(frozen=True)
class DemoContext:
    """What a demo step gets: the engine on the demo database and its masked URL."""

    engine: Engine
    database_url_masked: str
    private_server: bool


@dataclass(frozen=True)
class DemoStep:
    """An extension point: a later stage of the story (fee-sheet save, alert scan).

    ``run`` does the work and returns the lines to show; the demo command prints
    the title, the lines and (if ``show_stock_after``) the stock table again.
    """

    title: str
    run: Callable[[DemoContext], Sequence[str]]
    show_stock_after: bool = False


DEMO_BILLER = "admin"  # the fixture schema's user: the biller who saves the fee sheet


def _fee_sheet_step(ctx: DemoContext) -> Sequence[str]:
    return demo_fee_sheet_lines(ctx.engine, service_username=DEMO_BILLER)


def _alert_step(ctx: DemoContext) -> Sequence[str]:
    # its own root on the scratch engine, default settings (no environment): the demo
    # always shows the CRM channel
    return demo_alert_lines(build_app(environ={}, engine=ctx.engine), ctx.engine)


# Later stages of the story, in order, after migrate + sample data + stock table.
EXTRA_STEPS: list[DemoStep] = [
    DemoStep("fee sheet saved: mapped products deducted (FEFO)", _fee_sheet_step, True),
    DemoStep("alert scan and CRM notification", _alert_step),
]


@contextmanager
def demo_database(database_url: str | None = None) -> Iterator[DemoContext]:
    """A fresh OpenEMR-compatible database for the demo, cleaned up afterwards."""
    server: PrivateServer | None = None
    scratch_url: URL | None = None
    engine: Engine | None = None
    try:
        if database_url is None:
            server = PrivateServer()
            server.start()
        scratch_url = scratch.create_database(
            server.url if server is not None else str(database_url), SCRATCH_PREFIX
        )
        engine = create_db_engine(scratch_url)
        scratch.create_fixture_schema(engine)
        yield DemoContext(
            engine=engine,
            database_url_masked=mask_url(scratch_url),
            private_server=server is not None,
        )
    finally:
        if engine is not None:
            engine.dispose()
        if server is not None:
            server.stop()  # removes the whole data directory
        elif scratch_url is not None:  # a shared server: drop our scratch database
            scratch.drop_database(scratch_url)


@dataclass(frozen=True)
class PreparedDemo:
    """Results of the first stage: migrate and sample data."""

    migration: service.MigrationReport
    sample: runner.FileReport


def prepare(ctx: DemoContext) -> PreparedDemo:
    """Migrate the demo database and load the sample data."""
    migration = service.migrate(ctx.engine)
    sample = service.load_sample(ctx.engine)
    return PreparedDemo(migration=migration, sample=sample)


def stock_table(engine: Engine) -> list[StockLine]:
    """Every active product with its lots (not destroyed), by product and expiry."""
    with connect(engine) as conn:
        return DemoRepository(conn).stock_lines()
