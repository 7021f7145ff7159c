"""Progress bars for long work: on stderr, only when stderr is a terminal and the
command is not printing JSON, so pipes, logs and scripts stay clean."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click


def wanted(*, as_json: bool = False, minimum: int = 0, total: int = 0) -> bool:
    """Whether to draw a bar: a terminal, not JSON, and enough work to be worth it."""
    return sys.stderr.isatty() and not as_json and total >= minimum


@contextmanager
def progress(total: int, label: str, *, enabled: bool) -> Iterator[Any]:
    """A click progress bar (``bar.update(n)``) that draws nothing when disabled."""
    with click.progressbar(length=total, label=label, file=sys.stderr,
                           hidden=not enabled) as bar:
        yield bar
