"""How commands receive the composition root.

Every command takes the :class:`~aesthetic_inventory.bootstrap.App` as its first
argument through :data:`pass_app`; nothing below the CLI builds its own engine.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def pass_app(f: F) -> F:
    """Decorate a command so it is called with the :class:`App` as first argument."""

    @click.pass_context
    def new_func(ctx: click.Context, /, *args: Any, **kwargs: Any) -> Any:
        state = ctx.find_root().obj
        return ctx.invoke(f, state.app, *args, **kwargs)

    return update_wrapper(new_func, f)  # type: ignore[return-value]
