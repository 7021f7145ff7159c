"""Install the PHP bridge file OpenEMR's background-services runner loads."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from ..errors import InvalidInputError
from ..resources import templates_dir
from ..unit_of_work import UnitOfWorkFactory
from .repositories.background import BackgroundServiceRepository

BRIDGE_NAME = "aesthetic_inventory_alerts.php"
# The background_services.require_once value, relative to OpenEMR's file root.
BRIDGE_REQUIRE_ONCE = "/library/" + BRIDGE_NAME


def console_script_path() -> str:
    """Where this installation's ``aesthetic-inventory`` script is."""
    candidate = Path(sys.executable).with_name("aesthetic-inventory")
    if candidate.is_file():
        return str(candidate)
    return shutil.which("aesthetic-inventory") or str(candidate)


def install_bridge(
    openemr_dir: str | os.PathLike[str],
    *,
    bin_path: str | None = None,
    config_path: str | None = None,
    force: bool = False,
) -> Path:
    """Copy the bridge into ``<openemr>/library/`` with the script path filled in."""
    root = Path(openemr_dir)
    library = root / "library"
    if not library.is_dir():
        raise InvalidInputError(f"{root} is not an OpenEMR directory (no library/ folder)")
    target = library / BRIDGE_NAME
    if target.exists() and not force:
        raise InvalidInputError(f"{target} already exists; pass --force to replace it")
    source = (templates_dir() / BRIDGE_NAME).read_text()
    text = source.replace(
        "@AESTHETIC_INVENTORY_BIN@", _php_single_quoted(bin_path or console_script_path())
    )
    if config_path:
        text = text.replace(
            "'@AESTHETIC_INVENTORY_CONFIG@'",
            "'" + _php_single_quoted(str(Path(config_path).resolve())) + "'",
        )
    target.write_text(text)
    return target


def _php_single_quoted(value: str) -> str:
    """Escape for inside a PHP single-quoted string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def register_bridge(uow_factory: UnitOfWorkFactory) -> bool:
    """Name the installed bridge in the service row's ``require_once``.

    Done only after the file is in place: OpenEMR's runner stops its whole pass on
    a missing include file. Returns False when the row is missing (run migrate).
    """
    with uow_factory() as uow:
        changed = uow.get(BackgroundServiceRepository).register_bridge(BRIDGE_REQUIRE_ONCE)
        uow.commit()
    return changed
