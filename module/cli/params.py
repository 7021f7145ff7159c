"""Click parameter callbacks shared by the command modules."""

from __future__ import annotations

from datetime import date

import click


def parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """A ``YYYY-MM-DD`` option value as a date (None when not given); a malformed
    value is a usage error naming the expected form."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected a date as YYYY-MM-DD, got {value!r}") from None
