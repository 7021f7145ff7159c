"""The ``service`` command: the APScheduler background service."""

from __future__ import annotations

import click

from ..scheduler import run_service


@click.command("service")
@click.pass_obj
def service(state: object) -> None:
    """Run the background service (alert scan on the background_services interval,
    change-queue drain, outbox delivery) until SIGTERM/SIGINT."""
    from ..db import require_openemr
    from ..install.service import require_migrated
    from ..unit_of_work import UnitOfWork

    app = state.app  # type: ignore[attr-defined]
    with UnitOfWork(app.engine) as uow:  # fail fast on a wrong or un-migrated database
        require_openemr(uow.connection)
        require_migrated(uow.connection)
    run_service(app)


COMMANDS: list[click.Command] = [service]
