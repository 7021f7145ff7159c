"""The composition root: settings, engine, parsed alert config, Jinja2 environment and
SMTP factory, built once and handed to every command, job and test that needs them.

Nothing here runs at import time; :func:`build_app` is called by the CLI (or a test)
once, and everything else receives what it needs from the :class:`App` it returns.
The engine, the alert config and the template environment are built on first use
(``demo`` needs no database URL, ``migrate`` no alert settings) and then kept.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from functools import cached_property

from jinja2 import Environment
from sqlalchemy.engine import Engine

from .alerts.channels import SmtpFactory, default_smtp_factory
from .alerts.config import AlertConfig, load_alert_config
from .alerts.digest import build_template_environment
from .db import create_db_engine, mask_url, parse_database_url
from .errors import ConfigurationError
from .settings import Settings, load_settings
from .unit_of_work import UnitOfWork


class App:
    """Everything built from the settings; :meth:`close` disposes of the engine."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        config_path: str | None = None,
        smtp_factory: SmtpFactory = default_smtp_factory,
    ) -> None:
        self.settings = settings
        self.config_path = config_path  # the --config file, for the PHP bridge
        # The SMTP client factory: tests hand in one that talks to their own server.
        self.smtp_factory = smtp_factory
        self._engine = engine

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created on first use, or the one given)."""
        if self._engine is None:
            if not self.settings.database_url:
                raise ConfigurationError(
                    "no database configured: pass --database-url or set "
                    "AESTHETIC_INVENTORY_DATABASE_URL"
                )
            self._engine = create_db_engine(self.settings.database_url)
        return self._engine

    @cached_property
    def alert_config(self) -> AlertConfig:
        """The alert settings, parsed and validated once (a bad one raises
        :class:`~aesthetic_inventory.errors.ConfigurationError` on first use)."""
        return load_alert_config(self.settings)

    @cached_property
    def template_environment(self) -> Environment:
        """The Jinja2 environment of the digest templates (built on first use)."""
        return build_template_environment()

    @property
    def database_url_masked(self) -> str:
        """The database URL with its password hidden (safe to print)."""
        return mask_url(self.settings.database_url)

    def unit_of_work(self) -> UnitOfWork:
        """A new unit of work on the engine (this method is the services' factory)."""
        return UnitOfWork(self.engine)

    def for_site(self, database_url: str) -> App:
        """The same settings on another site's database (OpenEMR multisite): its own
        engine, so each site has its own connections, claims and outbox."""
        values = dict(self.settings.values) | {"database_url": database_url}
        origins = dict(self.settings.origins) | {"database_url": "--site"}
        settings = replace(self.settings, database_url=database_url, values=values,
                           origins=origins)
        return App(settings, config_path=self.config_path, smtp_factory=self.smtp_factory)

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
    engine: Engine | None = None,
) -> App:
    """Resolve settings and return the application's composition root.

    ``engine`` replaces the one the settings would build (the demo's scratch
    database, a test's engine with other session options)."""
    settings = load_settings(database_url=database_url, config_path=config_path, environ=environ)
    if settings.database_url and engine is None:
        parse_database_url(settings.database_url)  # fail early on a malformed URL
    return App(
        settings,
        engine=engine,
        config_path=None if config_path is None else os.fspath(config_path),
    )
