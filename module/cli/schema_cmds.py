"""Schema commands: ``migrate``, ``status``, ``load-sample``."""

from __future__ import annotations

import json

import click

from ..alerts.background import SERVICE_NAME
from ..bootstrap import App
from ..install import service
from ..migrations.runner import FileReport
from . import doctor_cmds
from .context import pass_app
from .sites import for_each_site


def _echo_file(report: FileReport) -> None:
    click.echo(report.name)
    for step in report.steps:
        click.echo(f"  line {step.line}: {step.message}")


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would run; write nothing.")
@pass_app
def migrate(app: App, dry_run: bool) -> None:
    """Apply pending upgrade files (and the billing triggers)."""
    report = service.migrate(app.engine, dry_run=dry_run)
    for file_report in report.files:
        _echo_file(file_report)
    for repair in report.repairs:
        state = "blocked" if repair.blocked else ("done" if repair.applied else "dry run")
        click.echo(f"{repair.hook}: {repair.description} ({state})")
    if report.triggers is not None:
        click.echo(f"triggers: {report.triggers.message} (mode: {report.triggers.mode})")
    if report.ledger_seal is not None and report.ledger_seal.sealed:
        click.echo(f"ledger: {report.ledger_seal.message}")
    if dry_run:
        click.echo(f"Dry run: {len(report.files)} file(s) would be applied; nothing was written.")
    elif report.files:
        click.echo(f"Applied {len(report.files)} file(s) to {app.database_url_masked}.")
    elif any(r.applied for r in report.repairs):
        done = sum(1 for r in report.repairs if r.applied)
        click.echo(
            f"Repaired {done} item(s); all {len(report.already_applied)} upgrade file(s) "
            "are applied."
        )
    else:
        click.echo(f"Nothing to do: all {len(report.already_applied)} upgrade file(s) are applied.")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@for_each_site
@pass_app
def status(app: App, as_json: bool) -> None:
    """Applied and pending files, versions, triggers and service state."""
    report = service.status(app.engine)
    health = doctor_cmds.health(app)
    if as_json:
        data = report.as_dict()
        data["health"] = {"healthy": health.healthy, "summary": health.summary_line()}
        click.echo(json.dumps(data, indent=2, default=str))
        return
    click.echo(f"database: {app.database_url_masked}")
    click.echo(
        f"OpenEMR {report.openemr_version or '?'} "
        f"(database version {report.openemr_database_version})"
    )
    click.echo(f"module version: {report.module_version or 'not installed'}")
    for plan in report.files:
        when = f" at {plan.applied_at}" if plan.applied_at else ""
        note = " (CHANGED since it was applied)" if plan.state == "changed" else ""
        click.echo(f"  {plan.state:8} {plan.name}{when}{note}")
    if report.triggers is not None:
        click.echo(f"triggers: {report.triggers.message} (mode: {report.triggers.mode})")
    if report.service is None:
        click.echo(f"service: {SERVICE_NAME} row missing (run migrate)")
    else:
        svc = report.service
        click.echo(
            f"service: {svc['name']} active={svc['active']} running={svc['running']} "
            f"next_run={svc['next_run']} every {svc['execute_interval']} min"
        )
    if report.set_aside:
        click.echo(f"set-aside visits ({len(report.set_aside)}; retried with backoff):")
        for v in report.set_aside:
            click.echo(f"  pid {v.pid} encounter {v.encounter}: {v.attempts} attempt(s), "
                       f"next try {v.next_try_at}: {v.last_error}")
    else:
        click.echo("set-aside visits: none")
    click.echo(health.summary_line())


@click.command("load-sample")
@pass_app
def load_sample(app: App) -> None:
    """Load the sample products, lots, codes and mappings (idempotent)."""
    report = service.load_sample(app.engine)
    for step in report.steps:
        click.echo(f"  line {step.line}: {step.message}")
    click.echo("Sample data loaded.")


COMMANDS: list[click.Command] = [migrate, status, load_sample]
