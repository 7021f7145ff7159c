"""``visit show``: what a visit's fee sheet requires, what it holds, and whether a
reconcile would change anything; read-only."""

from __future__ import annotations

import json
from datetime import date

import click

from ..bootstrap import App
from ..consumption.policy import lot_policy
from ..consumption.presentation import describe_result
from ..reports import service
from ..reports.visit import describe_view, plan_sync, preview_reconcile, visit_view
from .context import pass_app


@click.group()
def visit() -> None:
    """One visit's consumption (read-only)."""


@visit.command("show")
@click.option("--pid", type=click.IntRange(min=1), required=True, help="Patient id.")
@click.option("--encounter", type=click.IntRange(min=1), required=True, help="Encounter number.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show(app: App, pid: int, encounter: int, as_json: bool) -> None:
    """Billing lines -> mappings -> requirement (exact and rounded) -> AUTO_PROC rows
    and lots -> shortage, and whether a reconcile would change anything."""
    service.require_migrated(app.engine)
    with service.read_only(app.engine) as repo:
        view = visit_view(repo, pid, encounter,
                          service_username=app.settings.service_username,
                          policy=lot_policy(app.settings))
    if as_json:
        click.echo(json.dumps(view.as_dict(), indent=2, ensure_ascii=False))
        return
    for line in describe_view(view):
        click.echo(line)


def consume_dry_run(app: App, pid: int, encounter: int, as_json: bool) -> None:
    """``consume --dry-run``: the reconcile's plan on plain reads; nothing written."""
    with service.read_only(app.engine) as repo:
        result, usage_changes = preview_reconcile(
            repo, pid, encounter, service_username=app.settings.service_username,
            policy=lot_policy(app.settings))
    if as_json:
        click.echo(json.dumps(result.as_dict() | {"dry_run": True,
                                                  "usage_records_to_write": usage_changes},
                              indent=2))
        return
    click.echo("dry run (nothing written):")
    for line in describe_result(result):
        click.echo(line.replace("stock changed", "stock would change"))


def sync_dry_run(app: App, since: date, as_json: bool) -> None:
    """``sync --dry-run``: the queued and swept visits and the plan of each that would
    change; nothing claimed, nothing written."""
    with service.read_only(app.engine) as repo:
        visits, plans = plan_sync(repo, since=since,
                                  service_username=app.settings.service_username,
                                  policy=lot_policy(app.settings))
    if as_json:
        click.echo(json.dumps({"dry_run": True, "since": since.isoformat(),
                               "checked": len(visits),
                               "visits": [r.as_dict() for r in plans]}, indent=2))
        return
    click.echo(f"dry run since {since.isoformat()}: {len(visits)} visit(s) to check, "
               f"{len(plans)} would change; nothing was written")
    for result in plans:
        for line in describe_result(result):
            click.echo(line.replace("stock changed", "stock would change"))


COMMANDS: list[click.Command] = [visit]
