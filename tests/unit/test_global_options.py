"""Global options given after the command are moved in front of it, and only
those (no database: the real command tree, parsing only)."""

from __future__ import annotations

import click
import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.cli.global_options import hoist_global_options


def hoist(*args: str) -> list[str]:
    with click.Context(main) as ctx:
        return hoist_global_options(main, ctx, list(args))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["status", "-v"], ["-v", "status"]),
        (["status", "--verbose", "--json"], ["--verbose", "status", "--json"]),
        (["demo", "--database-url", "U"], ["--database-url", "U", "demo"]),
        (["demo", "--database-url=U"], ["--database-url=U", "demo"]),
        (["status", "--config", "f.toml"], ["--config", "f.toml", "status"]),
        (["alerts", "run", "-v", "--dry-run"], ["-v", "alerts", "run", "--dry-run"]),
        # before the command: untouched
        (["-v", "--database-url", "U", "status"], ["-v", "--database-url", "U", "status"]),
        # the value of a command's own option stays, even when it looks like one of ours
        (
            ["alerts", "install-bridge", "--openemr-dir", "-v", "--bin", "--config"],
            ["alerts", "install-bridge", "--openemr-dir", "-v", "--bin", "--config"],
        ),
        # help of the command stays the command's
        (["status", "-h"], ["status", "-h"]),
        # after "--" nothing moves
        (["status", "--", "-v"], ["status", "--", "-v"]),
        # an unknown command is left for Click to report
        (["nope", "-v"], ["nope", "-v"]),
    ],
)
def test_hoisting(given: list[str], expected: list[str]) -> None:
    assert hoist(*given) == expected


def test_value_after_the_command_wins() -> None:
    moved = hoist("--database-url", "A", "status", "--database-url", "B")
    assert moved == ["--database-url", "A", "--database-url", "B", "status"]
    # Click keeps the last value of an option given twice
    with click.Context(main) as ctx:
        parser = main.make_parser(ctx)
        values, _args, _order = parser.parse_args(moved)
    assert values["database_url"] == "B"


def test_every_command_parses_the_options_after_it() -> None:
    """``<command> -v --database-url U --config F`` reaches the group for every
    command and subcommand the CLI registers."""

    ours = {"-v", "--verbose", "--database-url", "--config"}

    def paths(group: click.Group, prefix: list[str]) -> list[list[str]]:
        found = []
        for name, command in group.commands.items():
            own = {o for p in command.params if isinstance(p, click.Option) for o in p.opts}
            if own & ours:
                continue  # a command's own option of the same name is its own
            if isinstance(command, click.Group):
                found.extend(paths(command, [*prefix, name]))
            else:
                found.append([*prefix, name])
        return found

    commands = paths(main, [])
    assert ["status"] in commands and ["alerts", "run"] in commands
    for path in commands:
        moved = hoist(*path, "-v", "--database-url", "U", "--config", "F")
        assert moved == ["-v", "--database-url", "U", "--config", "F", *path], path
