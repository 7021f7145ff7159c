"""Settings: where the database is and how the module behaves.

Values come from, in increasing priority: built-in defaults, an optional TOML file
(``--config``), environment variables ``AESTHETIC_INVENTORY_<KEY>``, and command-line
options. Keys in the TOML file are the environment names without the prefix, in lower
case (``database_url``, ``channels``, ``smtp_host``...), at the top level or under an
``[aesthetic_inventory]`` table.

:data:`SETTINGS` is the one place that knows every valid key, its kind and its bounds.
:func:`load_settings` checks every value it is given against it, so a malformed value
fails at start with one line naming the setting and where it came from (never at 3 a.m.
in the service). A key the TOML file names but :data:`SETTINGS` does not know is an
error (a typo would otherwise be silently ignored); unknown environment variables are
ignored, because the environment is shared with other tools (the test harness has its
own ``AESTHETIC_INVENTORY_TEST_*`` variables, for instance).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .errors import ConfigurationError

# the registry lives in its own module; its names stay importable from here
from .setting_specs import DATABASE_URL_OPTIONS, SETTINGS, SettingSpec  # noqa: F401 - re-exported

ENV_PREFIX = "AESTHETIC_INVENTORY_"
DEFAULT_SERVICE_USERNAME = "aesthetic-inventory"

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def env_name(key: str) -> str:
    """The environment variable of ``key``."""
    return f"{ENV_PREFIX}{key.upper()}"


@dataclass(frozen=True)
class Settings:
    """Resolved settings. ``values`` holds every key (lower case, no prefix);
    ``origins`` says where a value came from, for error messages."""

    database_url: str | None
    values: Mapping[str, str] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The raw string value of ``key`` (lower case, no prefix), or ``default``."""
        value = self.values.get(key.lower())
        return default if value is None or value == "" else value

    def describe(self, key: str) -> str:
        """How to name ``key`` in a message: its environment variable, or the file."""
        return self.origins.get(key.lower()) or env_name(key)

    def get_int(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """An integer setting within its bounds (the registry's, narrowed by the
        arguments); a malformed value is a :class:`ConfigurationError`."""
        raw = self.get(key)
        if raw is None:
            return default
        spec = SETTINGS.get(key.lower())
        low = None if spec is None or spec.minimum is None else int(spec.minimum)
        high = None if spec is None or spec.maximum is None else int(spec.maximum)
        if minimum is not None:
            low = minimum if low is None else max(low, minimum)
        if maximum is not None:
            high = maximum if high is None else min(high, maximum)
        return parse_int(raw, f"setting {self.describe(key)}", low, high)

    def get_bool(self, key: str, default: bool = False) -> bool:
        """A yes/no setting (1/0, true/false, yes/no, on/off)."""
        raw = self.get(key)
        if raw is None:
            return default
        return parse_bool(raw, f"setting {self.describe(key)}")

    def get_float(self, key: str, default: float, *, minimum: float, maximum: float) -> float:
        """A decimal number setting within [minimum, maximum] (e.g. ``0.25`` seconds)."""
        raw = self.get(key)
        if raw is None:
            return default
        return parse_float(raw, f"setting {self.describe(key)}", minimum, maximum)

    @property
    def service_username(self) -> str:
        """Username written on consumption rows when the billing line has no user."""
        return self.get("service_username", DEFAULT_SERVICE_USERNAME) or DEFAULT_SERVICE_USERNAME


def parse_int(raw: str, what: str, minimum: int | None, maximum: int | None) -> int:
    """A whole number within ``[minimum, maximum]``; ``what`` names it in the error."""
    text = raw.strip()
    # int() accepts '1_000' and digits of any script: only plain ASCII digits pass here
    body = text[1:] if text[:1] in "+-" else text
    if not body.isascii() or not body.isdigit():
        raise ConfigurationError(f"{what} must be a whole number, got {raw!r}")
    if len(body) > 18:  # far beyond any bound below; keeps a 400-digit number short
        raise ConfigurationError(f"{what} is out of range ({text[:12]}... is too large)")
    value = int(text)
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        if (minimum, maximum) == (1, 65535):
            raise ConfigurationError(f"{what} must be a TCP port (1-65535), got {value}")
        if value < minimum:
            raise ConfigurationError(f"{what} must be at least {minimum}, got {value}")
        raise ConfigurationError(f"{what} must be at most {maximum}, got {value}")
    if minimum is not None and value < minimum:
        raise ConfigurationError(f"{what} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigurationError(f"{what} must be at most {maximum}, got {value}")
    return value


def parse_float(raw: str, what: str, minimum: float, maximum: float) -> float:
    """A decimal number within ``[minimum, maximum]`` (nan and inf refused)."""
    try:
        value = float(raw.strip())
    except ValueError:
        value = float("nan")
    if not minimum <= value <= maximum:
        raise ConfigurationError(
            f"{what} must be a number from {minimum:g} to {maximum:g}, got {raw!r}"
        )
    return value


def parse_bool(raw: str, what: str) -> bool:
    """1/0, true/false, yes/no, on/off (any case)."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{what} must be true or false, got {raw!r}")


def _check_file(path: str, what: str, *, directory: bool = False) -> None:
    target = Path(path).expanduser()
    kind = "directory" if directory else "file"
    exists = target.is_dir() if directory else target.is_file()
    if not exists:
        raise ConfigurationError(f"{what}: {kind} not found: {path}")
    if not os.access(target, os.R_OK):
        raise ConfigurationError(f"{what}: {kind} not readable: {path}")


def validate_http_url(raw: str, what: str) -> str:
    """An ``http://`` or ``https://`` URL with a host and, if given, a valid port."""
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError for a port out of range or not a number
    except ValueError:
        raise ConfigurationError(f"{what} has a bad port: it must be 1-65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{what} must be an http:// or https:// URL")
    if port == 0:
        raise ConfigurationError(f"{what} has a bad port: it must be 1-65535")
    return raw


def validate_database_url(raw: str, what: str = "database URL") -> None:
    """The parts of a database URL PyMySQL would only reject at connect time (or
    ignore): the port, the query options and the files they name."""
    try:
        url = make_url(raw)
    except ValueError:  # make_url raises it for a port that is not a number
        raise ConfigurationError(f"{what} has a bad port: it must be a number 1-65535") from None
    except ArgumentError:
        return  # db.parse_database_url reports a malformed URL with an example
    if url.port is not None and not 1 <= url.port <= 65535:
        raise ConfigurationError(f"{what} has a bad port {url.port}: it must be 1-65535")
    for name, value in url.query.items():
        option = DATABASE_URL_OPTIONS.get(name)
        label = f"{what} option {name}"
        if option is None:
            hint = difflib.get_close_matches(name, DATABASE_URL_OPTIONS, n=1)
            known = f"did you mean {hint[0]}?" if hint else "known: " + ", ".join(
                sorted(DATABASE_URL_OPTIONS)
            )
            raise ConfigurationError(f"{what}: unknown query option {name!r} ({known})")
        values = value if isinstance(value, tuple) else (value,)
        if len(values) != 1:
            raise ConfigurationError(f"{label} is given more than once")
        (single,) = values
        if option == "seconds":
            parse_int(single, label, 1, 31_536_000)
        elif option == "bool":
            parse_bool(single, label)
        elif option == "file":
            _check_file(single, label)
        elif option == "directory":
            _check_file(single, label, directory=True)


def validate_value(key: str, raw: str, what: str) -> None:
    """Check ``raw`` against the registry entry of ``key`` (unknown keys pass)."""
    spec = SETTINGS.get(key)
    if spec is None or raw == "":
        return
    if spec.kind == "int":
        low = None if spec.minimum is None else int(spec.minimum)
        high = None if spec.maximum is None else int(spec.maximum)
        parse_int(raw, what, low, high)
    elif spec.kind == "float":
        parse_float(raw, what, float(spec.minimum or 0), float(spec.maximum or 0))
    elif spec.kind == "bool":
        parse_bool(raw, what)
    elif spec.kind == "choice":
        if raw.strip().lower() not in spec.choices:
            shown = ", ".join(c for c in spec.choices if c) + " (or empty)"
            raise ConfigurationError(f"{what} must be one of {shown}, got {raw!r}")
    elif spec.kind == "file":
        _check_file(raw, what)
    elif spec.kind == "http_url":
        validate_http_url(raw, what)
    elif spec.kind == "database_url":
        validate_database_url(raw, what)


def _unknown_key(key: str, path: Path) -> ConfigurationError:
    hint = difflib.get_close_matches(key, SETTINGS, n=1)
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    return ConfigurationError(f"unknown setting {key!r} in config file {path}{suggestion}")


def _read_toml(path: Path) -> dict[str, str]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigurationError(f"config file {path} is a directory") from None
    except PermissionError:
        raise ConfigurationError(f"config file {path} is not readable") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"config file {path} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"config file {path} is not UTF-8 text") from None
    if "aesthetic_inventory" in data:
        section = data["aesthetic_inventory"]
        if not isinstance(section, dict):
            raise ConfigurationError(f"config file {path}: [aesthetic_inventory] must be a table")
        for key in data:
            if key not in ("aesthetic_inventory", "sites"):  # [sites]: module/sites.py
                raise _unknown_key(key, path)
    else:
        section = data
    values: dict[str, str] = {}
    for key, value in section.items():
        name = str(key).lower()
        if name == "sites" and section is data:
            continue  # the multisite table, read by module/sites.py
        if name not in SETTINGS or isinstance(value, dict):
            raise _unknown_key(str(key), path)
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "1" if value else "0"
        values[name] = str(value)
    return values


def load_settings(
    *,
    database_url: str | None = None,
    config_path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings from a config file, the environment and explicit options,
    and check every value against :data:`SETTINGS` (a :class:`ConfigurationError`
    names the setting and where it came from)."""
    env = os.environ if environ is None else environ
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    if config_path is not None:
        path = Path(config_path)
        for key, value in _read_toml(path).items():
            values[key] = value
            origins[key] = f"{key} in config file {path}"
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and not name.startswith(ENV_PREFIX + "TEST_"):
            key = name[len(ENV_PREFIX) :].lower()
            values[key] = value
            origins[key] = name
    if database_url:
        values["database_url"] = database_url
        # Click hands the environment's URL in as the option's value too
        from_env = env.get(env_name("database_url")) == database_url
        origins["database_url"] = env_name("database_url") if from_env else "--database-url"
    for key, value in values.items():
        if key == "database_url":
            validate_value(key, value, f"database URL ({origins[key]})")
        else:
            validate_value(key, value, f"setting {origins[key]}")
    url = values.get("database_url") or None
    return Settings(database_url=url, values=values, origins=origins)
