"""Locate the data shipped inside the package: upgrade SQL and Jinja2 templates."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sql_dir() -> Path:
    """The directory holding the versioned SQL files (``sql/`` in the repository)."""
    return Path(str(resources.files("aesthetic_inventory.sql")))


def templates_dir() -> Path:
    """The directory holding the Jinja2 templates (``templates/`` in the repository)."""
    return Path(str(resources.files("aesthetic_inventory.templates")))
