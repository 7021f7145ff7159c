"""``recall``: who received a lot (``--lot``) or which lots a patient received
(``--patient``), read-only as before; and the recall room: ``recall open``, ``list``,
``show``, ``close``."""

from __future__ import annotations

import json
from typing import Any

import click

from ..bootstrap import App
from ..recall import documents, service
from ..recall.domain import AffectedPatient, Recall, still_sellable
from ..reports.service import parse_product
from . import containers_cmds, report_cmds
from .context import pass_app

_user = click.option("--user", required=True, metavar="USERNAME",
                     help="OpenEMR user doing this (needs inventory/purchases or admin/drugs).")


@click.group(invoke_without_command=True)
@click.option("--lot", help="Lot number (compared as the database compares it).")
@click.option("--patient", "pid", type=click.IntRange(min=1), help="Patient id (pid).")
@click.option("--product", help="Limit --lot to this product (id or exact name).")
@click.option("--container", "container_id", type=click.IntRange(min=1),
              help="The patients who shared one open vial (container id).")
@click.option("--format", "fmt", type=click.Choice(report_cmds.FORMATS), default="text",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_context
def recall(ctx: click.Context, lot: str | None, pid: int | None, product: str | None,
           container_id: int | None, fmt: str, as_json: bool) -> None:
    """Who received a lot (--lot), which lots a patient received (--patient), who shared
    one vial (--container); or the recall room: open, list, show, close."""
    if ctx.invoked_subcommand is None and container_id is not None:
        if lot is not None or pid is not None:
            raise click.UsageError("give one of --lot, --patient or --container")
        ctx.invoke(containers_cmds.show_cmd, container_id=container_id,
                   as_json=as_json or fmt == "json")
    elif ctx.invoked_subcommand is None:
        ctx.invoke(report_cmds.recall, lot=lot, pid=pid, product=product, fmt=fmt,
                   as_json=as_json)
    elif lot is not None or pid is not None or product is not None:
        raise click.UsageError(f"put --lot/--patient/--product after "
                               f"'recall {ctx.invoked_subcommand}'")


def _recall_line(r: Recall) -> str:
    product = f" product {r.drug_id}" if r.drug_id is not None else ""
    state = (f"closed {r.closed_at} by {r.closed_by}" if r.status == "closed"
             else f"open since {r.opened_at} by {r.opened_by}")
    return f"recall {r.id}: lot {r.lot_number}{product}, {state}: {r.reason}"


def _patient_lines(patients: tuple[AffectedPatient, ...]) -> list[str]:
    lines = [f"Patients who received the lot: {len(patients)}"]
    for p in patients:
        container = f", container {p.containers}" if p.containers else ""
        lines.append(
            f"  pid {p.pid} {p.name}, DOB {p.dob or 'unknown'}, phone {p.phone or 'none'}, "
            f"e-mail {p.email or 'none'}: {len(p.visits)} visit(s) "
            f"({', '.join(str(v.visit_date) for v in p.visits)}), {p.units} unit(s), "
            f"provider {p.provider_names or 'none'}{container}")
    return lines


@recall.command("open")
@click.option("--lot", required=True, help="Lot number to recall.")
@click.option("--product", help="Only this product's lots (id or exact name).")
@click.option("--reason", required=True, help="Why (the supplier's notice, in one line).")
@_user
@click.option("--output-dir", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Where the call list and the letters go.")
@pass_app
def open_cmd(app: App, lot: str, product: str | None, reason: str, user: str,
             output_dir: str) -> None:
    """Quarantine what is left of a lot, record the recall, message each provider,
    write a call list and one letter per patient. Running it again changes nothing."""
    # a letter template that does not parse is refused before anything is changed
    template = documents.letter_template(app.template_environment,
                                         app.settings.get("recall_letter_template"))
    result = service.open_recall(app.unit_of_work, lot, reason=reason, user=user,
                                 product=parse_product(product))
    r = result.recall
    if result.created:
        click.echo(f"Recall {r.id} of lot {r.lot_number} opened by {user}: {r.reason}")
    else:
        click.echo(f"Recall {r.id} of lot {r.lot_number} is already open (since "
                   f"{r.opened_at}, by {r.opened_by}); its reason is kept.")
    for m in result.moves:
        click.echo(f"Quarantined: lot {m.source.inventory_id} ({m.source.warehouse_id}): "
                   f"{m.quantity} unit(s) moved to lot {m.destination_id} in "
                   f"{r.quarantine_warehouse}")
    if not result.moves:
        click.echo(f"No stock to move: nothing of the lot is left outside "
                   f"{r.quarantine_warehouse}.")
    for line in _patient_lines(result.patients):
        click.echo(line)
    click.echo("Messaged providers: " + (", ".join(result.notified) or "none (already done)"
                                         if result.patients else "none (no patients)"))
    if result.unassigned:
        click.echo("No provider on the visits of pid " + ", ".join(map(str, result.unassigned)))
    for path in documents.write_documents(template, r, result.patients, result.clinic,
                                          output_dir):
        click.echo(f"wrote {path}")
    if not result.changed:
        click.echo("Nothing changed in the database.")


@recall.command("list")
@_user
@pass_app
def list_cmd(app: App, user: str) -> None:
    """Every recall, newest first."""
    recalls = service.list_recalls(app.unit_of_work, user=user)
    if not recalls:
        click.echo("No recalls.")
    for r in recalls:
        click.echo(_recall_line(r))


def _view_json(view: service.RecallView) -> dict[str, Any]:
    r = view.recall
    return {
        "id": r.id, "lot_number": r.lot_number, "drug_id": r.drug_id, "reason": r.reason,
        "status": r.status, "opened_by": r.opened_by, "opened_at": str(r.opened_at),
        "closed_by": r.closed_by, "closed_at": None if r.closed_at is None else str(r.closed_at),
        "close_note": r.close_note,
        "patients": [{"pid": p.pid, "name": p.name, "dob": p.dob and p.dob.isoformat(),
                      "phone": p.phone, "email": p.email, "units": p.units,
                      "providers": list(p.providers), "container": p.containers,
                      "visits": [{"encounter": v.encounter, "date": str(v.visit_date),
                                  "units": v.units, "provider": v.provider}
                                 for v in p.visits]} for p in view.patients],
        "lots": [{"inventory_id": lot.inventory_id, "product": lot.product,
                  "warehouse": lot.warehouse_id, "on_hand": lot.on_hand,
                  "destroyed": lot.destroyed} for lot in view.lots],
        "messages": view.notices,
        "audit": [{"action": a, "user": u, "at": str(t), "detail": d}
                  for a, u, t, d in view.audit],
    }


@recall.command("show")
@click.argument("recall_id", type=click.IntRange(min=1), metavar="ID")
@_user
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_app
def show_cmd(app: App, recall_id: int, user: str, as_json: bool) -> None:
    """One recall: its patients, where the lot's stock is, messages and audit trail."""
    view = service.show_recall(app.unit_of_work, recall_id, user=user)
    if as_json:
        click.echo(json.dumps(_view_json(view), indent=2, ensure_ascii=False))
        return
    click.echo(_recall_line(view.recall))
    for lot in view.lots:
        warning = (" STILL SELLABLE: run 'recall open' for this lot again"
                   if still_sellable(view.recall, lot) else "")
        click.echo(f"  lot {lot.inventory_id} {lot.product}: {lot.on_hand} in "
                   f"{lot.warehouse_id}{' (destroyed)' if lot.destroyed else ''}{warning}")
    for line in _patient_lines(view.patients):
        click.echo(line)
    click.echo("Messages: " + (", ".join(f"{who} (pnotes {n})"
                                          for who, n in sorted(view.notices.items()))
                               or "none"))
    for action, who, at, detail in view.audit:
        click.echo(f"  {at} {who} {action}: {detail}")


@recall.command("close")
@click.argument("recall_id", type=click.IntRange(min=1), metavar="ID")
@_user
@click.option("--note", default="", help="Why it is closed (kept in the audit trail).")
@pass_app
def close_cmd(app: App, recall_id: int, user: str, note: str) -> None:
    """Close a recall. The stock stays in quarantine until someone transfers it."""
    r = service.close_recall(app.unit_of_work, recall_id, user=user, note=note)
    click.echo(_recall_line(r))
    click.echo(f"The stock stays in {r.quarantine_warehouse}: move it with 'transfer' "
               "(or 'destroy') when you decide.")


COMMANDS: list[click.Command] = [recall]
