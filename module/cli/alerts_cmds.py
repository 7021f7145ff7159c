"""Commands of this concern (registered by ``aesthetic_inventory.cli``)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
