"""``serve``, ``openapi`` and ``install-openemr-module``: the web face and OpenEMR's menu."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..bootstrap import App
from ..web.sessions import revoke_user_sessions
from .context import pass_app
from .service_cmds import _usable_sites as usable_sites  # the same check as `service`
from .sites import chosen_sites, for_each_site, site_selection_options


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind (keep localhost; put a TLS reverse proxy in front).")
@click.option("--port", default=8470, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Server processes (one per core the clinic can spare).")
@site_selection_options
@pass_app
def serve_cmd(app: App, host: str, port: int, workers: int, sites: tuple[str, ...],
              all_sites: bool, openemr_dir: Path | None) -> None:
    """Serve the materials API (/api/v1) and the review page until SIGTERM; with --site
    or --all-sites, every chosen OpenEMR site (the site chosen at sign-in)."""
    from ..web.server import serve  # uvicorn loads only for this command

    chosen = chosen_sites(app, sites, all_sites, openemr_dir)
    if chosen is None:
        app.engine  # noqa: B018 - fail now on a missing database setting, not on first request
        served = None
    else:  # a site that cannot be reached now is served when it is back
        served = usable_sites(app, chosen)
    processes = f", {workers} processes" if workers > 1 else ""
    names = f"; sites {', '.join(name for name, _ in served)}" if served else ""
    try:
        serve(app, host=host, port=port, workers=workers, sites=served,
              announce=lambda: click.echo(
                  f"serving on http://{host}:{port}/ (API under /api/v1{processes}{names}); "
                  "Ctrl-C or SIGTERM stops"))
    finally:
        for _name, site_app in served or []:
            site_app.close()


@click.command("openapi")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the document to this file instead of standard output.")
@pass_app
def openapi_cmd(app: App, output: str | None) -> None:
    """Print the OpenAPI document of the API."""
    from ..web.app import openapi_document  # FastAPI loads only for this command

    text = json.dumps(openapi_document(app), indent=2, sort_keys=True) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)


@click.command("install-openemr-module")
@click.option("--openemr-dir", required=True, type=click.Path(file_okay=False),
              help="OpenEMR's web root (the directory holding interface/ and sites/).")
@click.option("--url", default=None,
              help="Address of the review page as the browser sees it "
                   "(default: /aesthetic-inventory/ on OpenEMR's host).")
@click.option("--force", is_flag=True, help="Overwrite files of an earlier install.")
@pass_app
def install_openemr_module_cmd(app: App, openemr_dir: str, url: str | None,
                               force: bool) -> None:
    """Copy the OpenEMR custom module that adds the menu item (and the launch token)."""
    from ..web.openemr_module import install_module  # the web package loads only here

    result = install_module(Path(openemr_dir), url=url, force=force,
                            secret=app.settings.get("openemr_launch_secret"))
    for line in result:
        click.echo(line)


@click.command("revoke-sessions")
@click.option("--user", "username", required=True,
              help="OpenEMR username whose web sessions and API tokens end now.")
@for_each_site
@pass_app
def revoke_sessions_cmd(app: App, username: str) -> None:
    """End every web session and API token of a user (a lost phone, a leaver); with
    --site or --all-sites, on those OpenEMR sites (each has its own users)."""
    count = revoke_user_sessions(app.unit_of_work, username)
    click.echo(f"revoked {count} session{'s' if count != 1 else ''} of {username}")


COMMANDS: list[click.Command] = [serve_cmd, openapi_cmd, install_openemr_module_cmd,
                                 revoke_sessions_cmd]
