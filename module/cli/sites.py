"""``--site`` / ``--all-sites`` / ``--openemr-dir`` for the commands that work on
several OpenEMR site databases (``service``, ``status``, ``doctor``, ``sync``).

Without these options a command works on the one ``--database-url`` as always.
With them, :func:`for_each_site` runs the command once per site, each on its own
:class:`~aesthetic_inventory.bootstrap.App`, under a ``== site NAME ==`` line (on
stderr, so ``--json`` output stays one document per site); a site that fails is
reported in one line and the others still run; the exit code is 1 when any failed.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from ..bootstrap import App
from ..db import describe_database_error, mask_url
from ..errors import AestheticInventoryError
from ..sites import Site, resolve_sites

F = TypeVar("F", bound=Callable[..., Any])


def site_selection_options(func: F) -> F:
    """The three options, passed as ``sites``, ``all_sites`` and ``openemr_dir``."""
    options = [
        click.option(
            "--site", "sites", multiple=True, metavar="NAME[=URL]",
            help="Work on this OpenEMR site: NAME=URL, or NAME of a configured site "
            "(settings file [sites] table or --openemr-dir); repeatable.",
        ),
        click.option("--all-sites", is_flag=True,
                     help="Work on every configured site, one after the other."),
        click.option(
            "--openemr-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
            envvar="AESTHETIC_INVENTORY_OPENEMR_DIR",
            help="An OpenEMR install whose sites/*/sqlconf.php name the site databases.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def chosen_sites(app: App, sites: tuple[str, ...], all_sites: bool,
                 openemr_dir: Path | None) -> list[Site] | None:
    """The sites the options select, or ``None`` when none of them was given."""
    if not sites and not all_sites:
        return None
    return resolve_sites(sites, all_sites=all_sites, config_path=app.config_path,
                         openemr_dir=openemr_dir)


def for_each_site(command: F) -> F:
    """Give a ``@pass_app`` command the site options (put it just above
    ``@pass_app``): with them, the command runs once per chosen site."""

    @site_selection_options
    @functools.wraps(command)
    def wrapper(*args: Any, sites: tuple[str, ...], all_sites: bool,
                openemr_dir: Path | None, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.find_object(App)
        assert app is not None  # the group builds it before any command runs
        chosen = chosen_sites(app, sites, all_sites, openemr_dir)
        if chosen is None:
            return command(*args, **kwargs)
        failed = [site.name for site in chosen if not _run_on(ctx, app, site, command,
                                                              args, kwargs)]
        if failed:
            raise click.ClickException(f"failed on site(s) {', '.join(failed)}")
        return None

    return wrapper  # type: ignore[return-value]


def _run_on(ctx: click.Context, app: App, site: Site, command: Callable[..., Any],
            args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Run the command on one site; one line and False when it failed there."""
    click.echo(f"== site {site.name} ({mask_url(site.url)}) ==", err=True)
    site_app = app.for_site(site.url)
    saved, ctx.obj = ctx.obj, site_app  # @pass_app finds the nearest App: this one
    try:
        command(*args, **kwargs)
        return True
    except SystemExit as exc:  # doctor: exit 1 when unhealthy
        return not exc.code
    except click.exceptions.Exit as exc:
        return exc.exit_code == 0
    except click.ClickException as exc:
        click.echo(f"site {site.name}: error: {exc.format_message()}", err=True)
    except AestheticInventoryError as exc:
        click.echo(f"site {site.name}: error: {exc}", err=True)
    except DBAPIError as exc:
        message = describe_database_error(exc, site.url) or type(exc.orig).__name__
        click.echo(f"site {site.name}: error: {message}", err=True)
    finally:
        ctx.obj = saved
        site_app.close()
    return False
