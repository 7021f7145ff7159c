"""The ``aesthetic-inventory`` command line.

This is the only layer that prints or exits: library errors
(:class:`~aesthetic_inventory.errors.AestheticInventoryError`) become one-line
messages with exit code 1; usage errors exit 2 (Click's convention).
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import click

from ..bootstrap import App, build_app
from ..errors import AestheticInventoryError
from . import alerts_cmds, consumption_cmds, demo_cmd, schema_cmds, service_cmds, web_cmds


class CliState:
    """Options of the top-level group; builds the composition root on first use."""

    def __init__(self, database_url: str | None, config_path: str | None, verbose: bool) -> None:
        self.database_url = database_url
        self.config_path = config_path
        self.verbose = verbose
        self._app: App | None = None

    @property
    def app(self) -> App:
        if self._app is None:
            self._app = build_app(database_url=self.database_url, config_path=self.config_path)
        return self._app

    def close(self) -> None:
        if self._app is not None:
            self._app.close()


class _Group(click.Group):
    """Turn library errors into one line and exit code 1; never show a traceback
    unless ``-v`` was given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AestheticInventoryError as exc:
            if _verbose(ctx):
                traceback.print_exc()
            raise click.ClickException(str(exc)) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:  # an unexpected failure: still one line by default
            if _verbose(ctx):
                traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            raise click.ClickException(
                f"unexpected error ({type(exc).__name__}): {first} (run with -v for details)"
            ) from None


def _verbose(ctx: click.Context) -> bool:
    state = ctx.obj if isinstance(ctx.obj, CliState) else None
    return bool(state and state.verbose)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--database-url",
    envvar="AESTHETIC_INVENTORY_DATABASE_URL",
    help="SQLAlchemy URL of the OpenEMR database, e.g. "
    "mysql+pymysql://openemr:secret@127.0.0.1:3306/openemr "
    "(env AESTHETIC_INVENTORY_DATABASE_URL).",
    metavar="URL",
    show_envvar=False,
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="AESTHETIC_INVENTORY_CONFIG",
    help="Optional TOML settings file (env AESTHETIC_INVENTORY_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log details and show tracebacks.")
@click.version_option(package_name="aesthetic-inventory")
@click.pass_context
def main(
    ctx: click.Context, database_url: str | None, config_path: str | None, verbose: bool
) -> None:
    """Aesthetic Inventory for OpenEMR: fee-sheet consumption of mapped products
    (first expired, first out) and stock alerts."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not verbose:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        # The service's own listener logs one line per failed job; APScheduler's
        # executor would add a full traceback for the same failure.
        logging.getLogger("apscheduler.executors").setLevel(logging.CRITICAL)
    state = CliState(database_url, config_path, verbose)
    ctx.obj = state
    ctx.call_on_close(state.close)


for _module in (schema_cmds, consumption_cmds, alerts_cmds, service_cmds, demo_cmd, web_cmds):
    for _command in _module.COMMANDS:
        main.add_command(_command)
