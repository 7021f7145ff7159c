"""How commands receive the composition root.

The top-level group builds the :class:`~aesthetic_inventory.bootstrap.App` once and
keeps it as the context object; every command takes it as its first argument through
:data:`pass_app` (``@pass_app`` then ``def cmd(app: App, ...)``). Nothing below the
CLI builds its own engine.
"""

from __future__ import annotations

import click

from ..bootstrap import App

VERBOSE_KEY = "aesthetic_inventory.verbose"
"""``ctx.meta`` key of the ``-v`` flag (set before the App is built, so an error while
building it is still shown with its traceback under ``-v``)."""

pass_app = click.make_pass_decorator(App)


def is_verbose(ctx: click.Context) -> bool:
    """Whether ``-v`` was given (``ctx.meta`` is shared by the whole command chain)."""
    return bool(ctx.meta.get(VERBOSE_KEY, False))
