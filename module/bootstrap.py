"""The composition root: settings, engine and (later) the other adapters.

Nothing here runs at import time; :func:`build_app` is called by the CLI (or a test)
once, and everything else receives what it needs from the :class:`App` it returns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from .db import create_db_engine, mask_url, parse_database_url
from .errors import ConfigurationError
from .settings import Settings, load_settings
from .unit_of_work import UnitOfWork


@dataclass
class App:
    """Everything built from the settings, created lazily and disposed by :meth:`close`."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)
    # Alerts adapters: the SMTP client factory (tests may swap it) and the Jinja2
    # environment, built on first use, never at import time.
    smtp_factory: Any = field(default=None, repr=False)
    _template_environment: Any = field(default=None, repr=False)

    @property
    def template_environment(self) -> Any:
        """The Jinja2 environment of the digest templates (built on first use)."""
        if self._template_environment is None:
            from .alerts.digest import build_template_environment

            self._template_environment = build_template_environment()
        return self._template_environment

    @property
    def database_url_masked(self) -> str:
        return mask_url(self.settings.database_url)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use)."""
        if self._engine is None:
            if not self.settings.database_url:
                raise ConfigurationError(
                    "no database configured: pass --database-url or set "
                    "AESTHETIC_INVENTORY_DATABASE_URL"
                )
            self._engine = create_db_engine(self.settings.database_url)
        return self._engine

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work on the engine."""
        return UnitOfWork(self.engine)

    def close(self) -> None:
        """Dispose of the pooled connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def build_app(
    *,
    database_url: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> App:
    """Resolve settings and return the application's composition root."""
    settings = load_settings(database_url=database_url, config_path=config_path, environ=environ)
    if settings.database_url:
        parse_database_url(settings.database_url)  # fail early on a malformed URL
    from .alerts.channels import default_smtp_factory

    return App(settings=settings, smtp_factory=default_smtp_factory)
