"""The ``aesthetic-inventory`` command line.

This is the only layer that prints or exits: library errors
(:class:`~aesthetic_inventory.errors.AestheticInventoryError`) become one-line
messages with the exit code their class carries (1); usage errors exit 2 (Click's
convention).
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any

import click
from sqlalchemy.exc import DBAPIError

from ..bootstrap import App, build_app
from ..db import describe_database_error
from ..errors import AestheticInventoryError
from . import (
    alerts_cmds,
    consumption_cmds,
    containers_cmds,
    demo_cmd,
    doctor_cmds,
    mappings_cmds,
    products_cmds,
    recall_cmds,
    report_cmds,
    schema_cmds,
    service_cmds,
    stock_cmds,
    usage_cmds,
    visit_cmds,
    web_cmds,
)
from .context import VERBOSE_KEY, is_verbose
from .global_options import hoist_global_options


class _Group(click.Group):
    """Turn library errors into one line and exit code 1; never show a traceback
    unless ``-v`` was given. Global options may also follow the command name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_global_options(self, ctx, args))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AestheticInventoryError as exc:
            if is_verbose(ctx):
                traceback.print_exc()
            raise _one_line(str(exc), exc.exit_code) from None
        except (click.exceptions.Exit, click.ClickException, click.Abort, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            # The reader went away (``status | head -1``). Point stdout at /dev/null so
            # the interpreter's final flush cannot fail again, and say it once.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise click.ClickException(
                "output closed early (broken pipe): the rest was not printed"
            ) from None
        except DBAPIError as exc:
            url = ctx.obj.settings.database_url if isinstance(ctx.obj, App) else None
            message = describe_database_error(exc, url)
            if message is None:
                raise _unexpected(ctx, exc) from None
            if is_verbose(ctx):
                traceback.print_exc()
            raise click.ClickException(message) from None
        except Exception as exc:  # an unexpected failure: still one line by default
            raise _unexpected(ctx, exc) from None


def _one_line(message: str, exit_code: int) -> click.exceptions.Exit:
    """Print the error as Click prints its own (``Error: ...`` on stderr) and leave with
    the exit code our error class carries."""
    click.echo(f"Error: {message}", err=True)
    return click.exceptions.Exit(exit_code)


def _unexpected(ctx: click.Context, exc: Exception) -> click.ClickException:
    if is_verbose(ctx):
        traceback.print_exc()
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    return click.ClickException(
        f"unexpected error ({type(exc).__name__}): {first} (run with -v for details)"
    )


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
    ctx.meta[VERBOSE_KEY] = verbose
    app = build_app(database_url=database_url, config_path=config_path)
    ctx.obj = app
    ctx.call_on_close(app.close)


# One entry per command module (each exports COMMANDS).
_COMMAND_MODULES = (
    schema_cmds,
    doctor_cmds,
    consumption_cmds,
    visit_cmds,
    mappings_cmds,
    report_cmds,
    recall_cmds,
    stock_cmds,
    products_cmds,
    usage_cmds,
    alerts_cmds,
    service_cmds,
    stock_cmds,
    demo_cmd,
    web_cmds,
    containers_cmds,
)
for _module in _COMMAND_MODULES:
    for _command in _module.COMMANDS:
        main.add_command(_command)
