"""``doctor`` and ``uninstall``."""

from __future__ import annotations

import json

import click

from ..bootstrap import App
from ..install.doctor import FAIL, WARN, DoctorReport, run_doctor
from ..install.uninstall import uninstall as run_uninstall
from .context import pass_app
from .sites import for_each_site

_MARK = {"ok": "ok  ", WARN: "WARN", FAIL: "FAIL"}


def health(app: App) -> DoctorReport:
    """Run every doctor check with the site's claim timeout."""
    return run_doctor(
        app.engine,
        claim_timeout_minutes=app.settings.get_int("claim_timeout_minutes", 60, minimum=1),
    )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@for_each_site
@pass_app
def doctor(app: App, as_json: bool) -> None:
    """Check everything the module needs and say the fix for each problem
    (exit 0 healthy, 1 otherwise)."""
    report = health(app)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        click.echo(f"database: {app.database_url_masked}")
        for check in report.checks:
            click.echo(f"[{_MARK.get(check.status, check.status)}] {check.name}: {check.summary}")
            for problem in check.problems:
                click.echo(f"       - {problem}")
            if check.status != "ok" and check.fix:
                click.echo(f"       fix: {check.fix}")
        click.echo(report.summary_line())
    if not report.healthy:
        raise SystemExit(1)


@click.command()
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--yes", is_flag=True, help="Carry out the plan (without it: plan only).")
@click.option(
    "--keep-data", is_flag=True, help="Keep the module tables (mappings, usage, alert state...)."
)
@pass_app
def uninstall(app: App, dry_run: bool, yes: bool, keep_data: bool) -> None:
    """Remove the module: triggers first, then its tables (unless --keep-data), its
    indexes, the service and module rows. AUTO_PROC sales and the product columns stay."""
    execute = yes and not dry_run
    report = run_uninstall(app.engine, keep_data=keep_data, execute=execute)
    if not report.steps:
        click.echo("Nothing to remove: the module is not installed in this database.")
        return
    for step in report.steps:
        click.echo(f"{'done' if execute else 'plan'}: {step.description}")
    if report.missing:
        click.echo("missing privileges (uninstall --yes refuses until they are granted): "
                   + "; ".join(report.missing))
    kept = "AUTO_PROC sales in drug_sales and the product columns stay"
    if keep_data:
        kept += "; the module tables stay (--keep-data)"
    if execute:
        click.echo(f"Uninstalled from {app.database_url_masked}: {kept}.")
    else:
        click.echo(f"Nothing was changed; run with --yes to uninstall ({kept}).")


COMMANDS: list[click.Command] = [doctor, uninstall]
