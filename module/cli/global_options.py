"""Global options anywhere on the command line.

``aesthetic-inventory status -v`` and ``aesthetic-inventory demo --database-url URL``
mean the same as the options given before the command. The top-level group moves
its own options that appear after the command name to the front before Click parses
anything, so the group's callback (which builds the composition root) sees them
whatever way the commands receive it (``pass_app``, ``make_pass_decorator``...).

A token is moved only when it is one of the group's own option names and it is not
the value of a command option that takes one (``--note -v`` keeps ``-v`` as the
note). ``--`` ends the scan, as it ends option parsing.
"""

from __future__ import annotations

import click


def _option_names(command: click.Command) -> tuple[set[str], set[str]]:
    """(names of options taking a value, names of flags) of ``command``."""
    valued: set[str] = set()
    flags: set[str] = set()
    for param in command.params:
        if not isinstance(param, click.Option):
            continue
        names = set(param.opts) | set(param.secondary_opts)
        if param.is_flag or param.count:
            flags |= names
        else:
            valued |= names
    return valued, flags


def hoist_global_options(group: click.Group, ctx: click.Context, args: list[str]) -> list[str]:
    """``args`` with the group's own options that follow the command name moved
    in front of it (with their values)."""
    own_valued, own_flags = _option_names(group)
    own_valued.discard("--help")
    own_flags -= {"--help", "-h", "--version"}
    front: list[str] = []
    rest: list[str] = []
    command: click.Command | None = None  # the innermost command named so far
    command_at = len(args)  # where the command name sits in ``rest``
    index = 0
    while index < len(args):
        token = args[index]
        if token == "--":
            rest.extend(args[index:])
            break
        if command is None:
            # still among the group's own options: find the command name
            if not token.startswith("-"):
                command = group.get_command(ctx, token)
                if command is None:  # let Click report the unknown command
                    rest.extend(args[index:])
                    break
                command_at = len(rest)
            rest.append(token)
            if token in own_valued and index + 1 < len(args):
                rest.append(args[index + 1])
                index += 1
            index += 1
            continue
        name, has_value, _value = token.partition("=")
        valued, flags = _option_names(command)
        if name in valued or name in flags:
            # the command's own option (it wins over a global one of the same name)
            rest.append(token)
            if name in valued and not has_value and index + 1 < len(args):
                rest.append(args[index + 1])  # its value, whatever it looks like
                index += 1
        elif name in own_valued:
            if has_value:
                front.append(token)
            elif index + 1 < len(args):
                front.extend((token, args[index + 1]))
                index += 1
            else:
                rest.append(token)  # Click says the value is missing
        elif token in own_flags:
            front.append(token)
        else:
            rest.append(token)
            if not token.startswith("-") and isinstance(command, click.Group):
                sub = command.get_command(ctx, token)
                if sub is not None:
                    command = sub
        index += 1
    # just before the command name: a value given after the command wins over one
    # given before it (Click keeps the last)
    return rest[:command_at] + front + rest[command_at:]
