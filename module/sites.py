"""OpenEMR multisite: which site databases one process serves.

A clinic group runs one OpenEMR install with one database per site
(``sites/<name>/sqlconf.php``). The module finds its sites in three ways, merged
in this order (a later one replaces an earlier one of the same name):

- discovery from an OpenEMR install's ``sites/*/sqlconf.php`` (``--openemr-dir``);
- a ``[sites]`` table in the settings file: ``name = "mysql+pymysql://..."``;
- ``--site NAME=URL`` on the command line.

``--site NAME`` (without ``=URL``) picks one of the configured sites; ``--all-sites``
takes them all.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from .db import parse_database_url
from .errors import ConfigurationError

SITE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# PHP assignments in sqlconf.php: $host = 'localhost'; (single or double quotes)
_PHP_STRING = re.compile(
    r"^\s*\$(host|port|login|pass|dbase)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\s*;",
    re.M,
)
_PHP_CONFIG = re.compile(r"^\s*\$config\s*=\s*(\d+)\s*;", re.M)


@dataclass(frozen=True)
class Site:
    """One OpenEMR site: its name (the ``sites/`` directory) and database URL."""

    name: str
    url: str


def check_name(name: str, where: str) -> str:
    """A site name as OpenEMR allows it for a ``sites/`` directory."""
    if not SITE_NAME.match(name):
        raise ConfigurationError(
            f"{where}: site name {name!r} must be letters, digits, '_', '-' or '.'"
        )
    return name


def _php_unquote(value: str) -> str:
    """The value of a PHP string literal's body (backslash escapes of quotes and
    backslashes, as in single-quoted PHP strings)."""
    return re.sub(r"\\(['\"\\])", r"\1", value)


def read_sqlconf(path: Path) -> Site | None:
    """The site of one ``sites/<name>/sqlconf.php``, or ``None`` when the site is
    not set up yet (``$config = 0``, OpenEMR's installer not finished)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    config = _PHP_CONFIG.search(text)
    if config is not None and config.group(1) == "0":
        return None
    values = {m.group(1): _php_unquote(m.group(2) or m.group(3) or "")
              for m in _PHP_STRING.finditer(text)}
    missing = [k for k in ("host", "login", "dbase") if not values.get(k)]
    if missing:
        raise ConfigurationError(f"{path}: no {', '.join('$' + k for k in missing)} found")
    port = values.get("port") or "3306"
    if not port.isdigit():
        raise ConfigurationError(f"{path}: $port {port!r} is not a number")
    url = URL.create(
        "mysql+pymysql", username=values["login"], password=values.get("pass") or None,
        host=values["host"], port=int(port), database=values["dbase"],
    )
    name = check_name(path.parent.name, str(path))
    return Site(name, url.render_as_string(hide_password=False))


def discover_sites(openemr_dir: Path) -> list[Site]:
    """Every set-up site of an OpenEMR install, by name."""
    sites_dir = openemr_dir / "sites"
    if not sites_dir.is_dir():
        raise ConfigurationError(f"{openemr_dir} is not an OpenEMR install: no sites/ directory")
    found = [read_sqlconf(p) for p in sorted(sites_dir.glob("*/sqlconf.php"))]
    return [site for site in found if site is not None]


def sites_from_config(path: Path) -> list[Site]:
    """The ``[sites]`` table of the settings file (``name = "URL"``), if any."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return []  # load_settings already reported what is wrong with the file
    table = data.get("sites", {})
    if not isinstance(table, Mapping):
        raise ConfigurationError(f"config file {path}: [sites] must be a table of name = URL")
    sites = []
    for name, url in table.items():
        where = f"config file {path} [sites]"
        if not isinstance(url, str):
            raise ConfigurationError(f"{where}: {name} must be a database URL string")
        parse_database_url(url)
        sites.append(Site(check_name(str(name), where), url))
    return sites


def parse_site_option(text: str) -> tuple[str, str | None]:
    """``NAME=URL`` or ``NAME`` (a configured site) from ``--site``."""
    name, sep, url = text.partition("=")
    check_name(name.strip(), "--site")
    if sep and not url.strip():
        raise ConfigurationError(f"--site {text}: the URL after '=' is empty")
    if sep:
        parse_database_url(url.strip())
    return name.strip(), url.strip() if sep else None


def _merge(*groups: Iterable[Site]) -> dict[str, Site]:
    merged: dict[str, Site] = {}
    for group in groups:
        for site in group:
            merged[site.name] = site
    return merged


def resolve_sites(
    options: Sequence[str],
    *,
    all_sites: bool,
    config_path: str | None = None,
    openemr_dir: Path | None = None,
) -> list[Site]:
    """The sites a command serves: those named by ``--site`` (inline URLs, or names
    from the configured ones), or every configured site with ``all_sites``."""
    configured = _merge(
        discover_sites(openemr_dir) if openemr_dir is not None else [],
        sites_from_config(Path(config_path)) if config_path else [],
    )
    chosen: dict[str, Site] = {}
    for option in options:
        name, url = parse_site_option(option)
        if url is not None:
            chosen[name] = Site(name, url)
        elif name in configured:
            chosen[name] = configured[name]
        else:
            known = ", ".join(sorted(configured)) or "none configured"
            raise ConfigurationError(f"--site {name}: no such site (known: {known})")
    if all_sites:
        chosen = _merge(configured.values(), chosen.values())
    if not chosen:
        raise ConfigurationError(
            "no sites: give --site NAME=URL, a [sites] table in the config file, or "
            "--openemr-dir of an OpenEMR install"
        )
    return list(chosen.values())
