"""The ``service`` command: the APScheduler background service, for one database
or for several OpenEMR site databases in one process."""

from __future__ import annotations

from pathlib import Path

import click

from ..bootstrap import App
from ..db import require_openemr
from ..errors import AestheticInventoryError, DatabaseUnavailableError
from ..install.service import require_migrated
from ..scheduler import run_service, run_sites
from ..sites import Site
from .context import pass_app
from .sites import chosen_sites, site_selection_options


def _check_database(app: App) -> None:
    """Fail fast on a wrong or un-migrated database."""
    with app.unit_of_work() as uow:
        require_openemr(uow.connection)
        require_migrated(uow.connection)


def _usable_sites(app: App, sites: list[Site]) -> list[tuple[str, App]]:
    """Every site with its own root; a site that is not OpenEMR or not migrated is
    left out (one line), one that cannot be reached now is kept (its jobs wait)."""
    usable = []
    for site in sites:
        site_app = app.for_site(site.url)
        try:
            _check_database(site_app)
        except DatabaseUnavailableError as exc:
            click.echo(f"site {site.name}: {exc}; served when it is back", err=True)
        except AestheticInventoryError as exc:
            click.echo(f"site {site.name}: left out: {exc}", err=True)
            site_app.close()
            continue
        usable.append((site.name, site_app))
    if not usable:
        raise AestheticInventoryError("no site can be served (see the lines above)")
    return usable


@click.command("service")
@site_selection_options
@pass_app
def service(app: App, sites: tuple[str, ...], all_sites: bool, openemr_dir: Path | None) -> None:
    """Run the background service (alert scan on the background_services interval,
    change-queue drain, outbox delivery) until SIGTERM/SIGINT; with --site or
    --all-sites, for every chosen OpenEMR site in one process."""
    chosen = chosen_sites(app, sites, all_sites, openemr_dir)
    if chosen is None:
        _check_database(app)
        run_service(app)
        return
    served = _usable_sites(app, chosen)
    try:
        run_sites(served)
    finally:
        for _name, site_app in served:
            site_app.close()


COMMANDS: list[click.Command] = [service]
