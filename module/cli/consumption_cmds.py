"""Consumption commands: ``consume`` (one visit) and ``sync`` (queue + sweep)."""

from __future__ import annotations

import json
import sys
from datetime import date, datetime

import click

from ..bootstrap import App
from ..consumption import batch, service
from ..consumption.containers import service as containers
from ..consumption.domain import LotPolicy
from ..consumption.policy import grace_hours, lot_policy
from ..consumption.presentation import describe_result
from ..consumption.repositories import QueueRepository
from ..consumption.results import DrainResult, ReconcileResult
from .context import pass_app
from .params import parse_date
from .preflight import preflight
from .sites import for_each_site
from .visit_cmds import consume_dry_run, sync_dry_run


def _echo_result(result: ReconcileResult) -> None:
    for line in describe_result(result):
        click.echo(line)



@click.command()
@click.option("--pid", type=click.IntRange(min=1), required=True, help="Patient id.")
@click.option("--encounter", type=click.IntRange(min=1), required=True, help="Encounter number.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@pass_app
def consume(app: App, pid: int, encounter: int, as_json: bool, dry_run: bool) -> None:
    """Reconcile one visit: deduct (or return) the mapped products of its fee sheet."""
    preflight(app.engine)
    if dry_run:
        consume_dry_run(app, pid, encounter, as_json)
        return
    result = service.reconcile_visit(
        app.unit_of_work(), pid, encounter,
        service_username=app.settings.service_username, policy=lot_policy(app.settings),
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        _echo_result(result)


@click.command()
@click.option(
    "--since", callback=parse_date, metavar="DATE",
    help="Sweep visits with billing lines on/after this date (YYYY-MM-DD; default: 7 days ago).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--dry-run", is_flag=True, help="Print what would be reconciled; write nothing.")
@for_each_site
@pass_app
def sync(app: App, since: date | None, as_json: bool, dry_run: bool) -> None:
    """Drain the change queue, then sweep visits since DATE (and open shortages);
    containers past beyond-use plus the grace are written off as waste."""
    preflight(app.engine)
    if dry_run:
        sync_dry_run(app, since or batch.default_since(), as_json)
        return
    user = app.settings.service_username
    policy = lot_policy(app.settings)
    drained = _drain_all(app, user, policy, show_progress=not as_json)
    swept = batch.sweep_visits(
        app.unit_of_work, since=since or batch.default_since(), service_username=user,
        policy=policy,
    )
    # what the service's waste job would write off by now (containers past beyond-use)
    waste = containers.write_off_expired(
        app.unit_of_work, now=datetime.now(), grace_hours=grace_hours(app.settings),
        user=user) if containers.tables_present(app.unit_of_work) else None
    if as_json:
        click.echo(json.dumps({
            "queue": {"visits": drained.visits, "changed": drained.changed,
                      "skipped": drained.skipped, "failed": drained.failed},
            "sweep": {"since": swept.since.isoformat(), "visits": swept.visits,
                      "changed": swept.changed, "skipped": swept.skipped,
                      "failed": swept.failed,
                      "shortage_units": swept.shortage_units},
            "changed_visits": [r.as_dict() for r in (*drained.results, *swept.results)
                               if r.changed],
            "problems": [f"visit pid {r.pid} encounter {r.encounter}: {p}"
                         for r in (*drained.results, *swept.results) for p in r.problems],
            "containers_closed": [{"container_id": c.container_id, "reason": c.reason,
                                   "waste": c.waste} for c in (waste.closed if waste else ())],
        }, indent=2))
        _fail_if_any(drained.failed + swept.failed)
        return
    click.echo(
        f"queue: {drained.visits} visit(s) reconciled, {drained.changed} changed"
        + (f", {drained.failed} set aside" if drained.failed else "")
    )
    click.echo(
        f"sweep since {swept.since.isoformat()}: {swept.visits} visit(s) reconciled, "
        f"{swept.changed} changed, {swept.shortage_units} unit(s) still short"
    )
    for result in (*drained.results, *swept.results):
        if result.changed or result.problems:
            _echo_result(result)
    if waste is not None and (waste.closed or waste.failed):
        click.echo(f"containers past beyond-use: {len(waste.closed)} closed, "
                   f"{sum(c.waste for c in waste.closed)} unit(s) written off as waste"
                   + (f", {waste.failed} failed" if waste.failed else ""))
    _fail_if_any(drained.failed + swept.failed)


def _drain_all(app: App, user: str, policy: LotPolicy, *, show_progress: bool) -> DrainResult:
    """The whole queue; a progress bar when stderr is a terminal (silent otherwise)."""
    if not (show_progress and sys.stderr.isatty()):
        return batch.drain_change_queue(app.unit_of_work, service_username=user,
                                        policy=policy, drain_all=True)
    with app.unit_of_work() as uow:
        total = uow.get(QueueRepository).due_count()
    with click.progressbar(length=total, label="queue", file=sys.stderr) as bar:
        return batch.drain_change_queue(app.unit_of_work, service_username=user,
                                        policy=policy, drain_all=True, progress=bar.update)


def _fail_if_any(failed: int) -> None:
    """Exit 1 (one line) when some visits hit a database error; the rest are done."""
    if failed:
        raise click.ClickException(
            f"{failed} visit(s) could not be reconciled and were set aside (see the log "
            "and 'status'); they are retried with backoff"
        )


COMMANDS: list[click.Command] = [consume, sync]
