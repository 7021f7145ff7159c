"""The ``service`` command: the APScheduler background service."""

from __future__ import annotations

import click

from ..bootstrap import App
from ..db import require_openemr
from ..migrations.runner import require_migrated
from ..scheduler import run_service
from .context import pass_app


@click.command("service")
@pass_app
def service(app: App) -> None:
    """Run the background service (alert scan on the background_services interval,
    change-queue drain, outbox delivery) until SIGTERM/SIGINT."""
    with app.unit_of_work() as uow:  # fail fast on a wrong or un-migrated database
        require_openemr(uow.connection)
        require_migrated(uow.connection)
    run_service(app)


COMMANDS: list[click.Command] = [service]
