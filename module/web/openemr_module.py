"""Copy the OpenEMR custom module (menu item + launch token) into an OpenEMR tree."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import ConfigurationError, InvalidInputError
from ..resources import templates_dir

MODULE_NAME = "oe-module-aesthetic-inventory"
DEFAULT_URL = "/aesthetic-inventory"


def _php_single_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def install_module(openemr_dir: Path, *, url: str | None, force: bool,
                   secret: str | None) -> list[str]:
    """Copy the module to ``interface/modules/custom_modules/`` and write its config.

    The config holds the shared launch secret, so it is written readable by its owner
    and group only. Returns the lines to print (never the secret).
    """
    custom = openemr_dir / "interface" / "modules" / "custom_modules"
    if not custom.is_dir():
        raise InvalidInputError(
            f"{openemr_dir} is not an OpenEMR directory (no interface/modules/custom_modules/)"
        )
    if not secret:
        raise ConfigurationError(
            "set openemr_launch_secret (env AESTHETIC_INVENTORY_OPENEMR_LAUNCH_SECRET) first: "
            "the menu signs the user across with it"
        )
    target = custom / MODULE_NAME
    if target.exists() and not force:
        raise InvalidInputError(f"{target} already exists; pass --force to replace it")
    source = templates_dir() / "openemr_module" / MODULE_NAME
    shutil.copytree(source, target, dirs_exist_ok=True)
    config = target / "config.php"
    config.write_text(
        "<?php\n// Written by aesthetic-inventory install-openemr-module.\nreturn [\n"
        f"    'secret' => '{_php_single_quoted(secret)}',\n"
        f"    'url' => '{_php_single_quoted(url or DEFAULT_URL)}',\n];\n",
        encoding="utf-8",
    )
    os.chmod(config, 0o640)
    return [
        f"installed {target}",
        f"review page URL: {url or DEFAULT_URL}",
        "next: in OpenEMR, Modules > Manage Modules > Unregistered: register, install and "
        "enable 'Aesthetic Inventory'; the item appears under the Modules menu",
    ]
