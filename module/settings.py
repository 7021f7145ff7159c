"""Settings: where the database is and how the module behaves.

Values come from, in increasing priority: built-in defaults, an optional TOML file
(``--config``), environment variables ``AESTHETIC_INVENTORY_<KEY>``, and command-line
options. Keys in the TOML file are the environment names without the prefix, in lower
case (``database_url``, ``channels``, ``smtp_host``...), at the top level or under an
``[aesthetic_inventory]`` table.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .consumption.domain import LotPolicy

ENV_PREFIX = "AESTHETIC_INVENTORY_"
DEFAULT_SERVICE_USERNAME = "aesthetic-inventory"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``values`` holds every key (lower case, no prefix)."""

    database_url: str | None
    values: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The raw string value of ``key`` (lower case, no prefix), or ``default``."""
        value = self.values.get(key.lower())
        return default if value is None or value == "" else value

    def get_int(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """An integer setting; a malformed value is a :class:`ConfigurationError`."""
        raw = self.get(key)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(
                f"setting {ENV_PREFIX}{key.upper()} must be a whole number, got {raw!r}"
            ) from None
        if minimum is not None and value < minimum:
            raise ConfigurationError(
                f"setting {ENV_PREFIX}{key.upper()} must be at least {minimum}, got {value}"
            )
        if maximum is not None and value > maximum:
            raise ConfigurationError(
                f"setting {ENV_PREFIX}{key.upper()} must be at most {maximum}, got {value}"
            )
        return value

    def get_float(
        self, key: str, default: float, *, minimum: float, maximum: float
    ) -> float:
        """A decimal number setting within [minimum, maximum] (e.g. ``0.25`` seconds)."""
        raw = self.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not minimum <= value <= maximum:  # also refuses nan and inf
            raise ConfigurationError(
                f"setting {ENV_PREFIX}{key.upper()} must be a number from {minimum:g} to "
                f"{maximum:g}, got {raw!r}"
            )
        return value

    def get_bool(self, key: str, default: bool) -> bool:
        """A yes/no setting (1/0, true/false, yes/no, on/off); anything else is a
        :class:`ConfigurationError`."""
        raw = self.get(key)
        if raw is None:
            return default
        value = raw.strip().lower()
        if value in ("1", "true", "yes", "on"):
            return True
        if value in ("0", "false", "no", "off"):
            return False
        raise ConfigurationError(
            f"setting {ENV_PREFIX}{key.upper()} must be true or false, got {raw!r}"
        )

    @property
    def lot_policy(self) -> LotPolicy:
        """Which lots the consumption engine may take: ``sell_from_one_warehouse``
        (default true, as OpenEMR's SELL_FROM_ONE_WAREHOUSE) and
        ``block_days_before_expiry`` (default 0, OpenEMR's behaviour)."""
        from .consumption.domain import LotPolicy

        return LotPolicy(
            sell_from_one_warehouse=self.get_bool("sell_from_one_warehouse", True),
            block_days_before_expiry=self.get_int(
                "block_days_before_expiry", 0, minimum=0, maximum=36500
            ),
        )

    @property
    def service_username(self) -> str:
        """Username written on consumption rows when the billing line has no user."""
        return self.get("service_username", DEFAULT_SERVICE_USERNAME) or DEFAULT_SERVICE_USERNAME


def _read_toml(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None
    section = data.get("aesthetic_inventory", data)
    if not isinstance(section, dict):
        raise ConfigurationError(f"config file {path}: [aesthetic_inventory] must be a table")
    values: dict[str, str] = {}
    for key, value in section.items():
        if isinstance(value, dict):
            continue
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "1" if value else "0"
        values[str(key).lower()] = str(value)
    return values


def load_settings(
    *,
    database_url: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from a config file, the environment and explicit options."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    if config_path is not None:
        values.update(_read_toml(Path(config_path)))
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and not name.startswith(ENV_PREFIX + "TEST_"):
            values[name[len(ENV_PREFIX):].lower()] = value
    if database_url:
        values["database_url"] = database_url
    url = values.get("database_url") or None
    return Settings(database_url=url, values=values)
