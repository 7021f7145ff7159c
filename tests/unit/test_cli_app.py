"""The CLI builds one App and hands it to commands; ``-v`` reaches the error handler
even when building the App fails (no database needed)."""

from __future__ import annotations

from pathlib import Path

import click
from aesthetic_inventory.bootstrap import App
from aesthetic_inventory.cli import main
from aesthetic_inventory.cli.context import pass_app
from click.testing import CliRunner


def test_commands_receive_the_one_app_built_from_the_options(tmp_path: Path) -> None:
    seen: list[App] = []

    @click.command("probe")
    @pass_app
    def probe(app: App) -> None:
        seen.append(app)
        click.echo(f"{app.settings.get('channels')} {app.config_path}")

    config = tmp_path / "settings.toml"
    config.write_text('channels = "crm"\n')
    main.add_command(probe)
    try:
        result = CliRunner().invoke(main, ["--config", str(config), "probe"], env={})
    finally:
        main.commands.pop("probe")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"crm {config}"
    assert len(seen) == 1 and isinstance(seen[0], App)


def test_a_bad_config_is_one_line_and_a_traceback_only_with_v(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.toml")
    plain = CliRunner().invoke(main, ["--config", missing, "status"], env={})
    assert plain.exit_code == 1
    assert "config file not found" in plain.output and "Traceback" not in plain.output
    verbose = CliRunner().invoke(main, ["-v", "--config", missing, "status"], env={})
    assert verbose.exit_code == 1 and "Traceback" in verbose.output
