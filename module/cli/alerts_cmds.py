"""``alerts`` commands: one scan (``alerts run``) and the PHP bridge installer."""

from __future__ import annotations

import json

import click

from ..alerts.bridge import BRIDGE_REQUIRE_ONCE, install_bridge, register_bridge
from ..alerts.repositories.background import SERVICE_NAME, BackgroundServiceRepository
from ..alerts.service import check_alert_setup, run_alert_scan
from ..bootstrap import App
from .context import pass_app


@click.group("alerts")
def alerts() -> None:
    """Stock alerts: low stock, expiring and expired lots, shortages."""


@alerts.command("run")
@click.option("--dry-run", is_flag=True, help="Show the digest; write and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result.")
@click.option("--full", is_flag=True,
              help="Evaluate every product and lot, not only what changed since the last scan.")
@pass_app
def run(app: App, dry_run: bool, as_json: bool, full: bool) -> None:
    """One alert scan: decide what is new, write the outbox, deliver it."""
    check_alert_setup(app)  # a malformed setting (or SMTP global) fails before any work
    result = run_alert_scan(app, dry_run=dry_run, full=full)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2, sort_keys=True, default=str))
        return
    prefix = "dry run: " if dry_run else ""
    click.echo(
        f"{prefix}{result.current} item(s) need attention; {len(result.notified)} notified "
        f"({result.new} new, {result.reminders} reminder(s)), {result.resolved} resolved"
    )
    if result.digest_text:
        click.echo("")
        click.echo(result.digest_text.rstrip())
    if not dry_run:
        for row_id, channel, note in result.delivery.delivered:
            click.echo(f"delivered outbox {row_id} via {channel}: {note}")
        for row_id, channel, error in result.delivery.failed:
            click.echo(f"kept outbox {row_id} for retry via {channel}: {error}")


@alerts.command("install-bridge")
@click.option(
    "--openemr-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The OpenEMR web root (the directory holding library/ and interface/).",
)
@click.option("--bin", "bin_path", help="Console script the bridge runs (default: this one).")
@click.option("--force", is_flag=True, help="Replace an existing bridge file.")
@pass_app
def install(app: App, openemr_dir: str, bin_path: str | None, force: bool) -> None:
    """Copy the PHP bridge into OpenEMR so its background runner can run the alerts."""
    target = install_bridge(
        openemr_dir, bin_path=bin_path, config_path=app.config_path, force=force
    )
    click.echo(f"installed {target}")
    if not app.settings.database_url:
        click.echo(
            "no database configured: register the bridge with --database-url, or run "
            + BackgroundServiceRepository.register_bridge_statement(BRIDGE_REQUIRE_ONCE)
        )
    elif register_bridge(app.unit_of_work):
        click.echo(
            f"background_services row {SERVICE_NAME} now loads {BRIDGE_REQUIRE_ONCE}"
        )
    else:
        click.echo(f"background_services row {SERVICE_NAME} not found: run migrate first")


COMMANDS: list[click.Command] = [alerts]
