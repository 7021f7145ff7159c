"""Issue 16 "Circles": the alerts package never imports the composition root
(``bootstrap`` builds on it) nor the demo (which builds on it): read from the
source, so a lazy import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

MODULE = Path(__file__).resolve().parents[3] / "module"


def _imports(path: Path) -> set[str]:
    """Every module a file imports, as dotted names relative to the package root."""
    package = path.relative_to(MODULE).parent.parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            if node.module:
                base += node.module.removeprefix("aesthetic_inventory.").split(".")
            found.add(".".join(base))
            found.update(".".join([*base, alias.name]) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name.removeprefix("aesthetic_inventory.") for alias in node.names)
    return found


def test_alerts_imports_neither_bootstrap_nor_demo() -> None:
    files = sorted((MODULE / "alerts").rglob("*.py"))
    assert len(files) > 10
    offending = {
        str(path.relative_to(MODULE)): sorted(
            name for name in _imports(path) if name in ("bootstrap", "demo")
        )
        for path in files
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_demo_imports_the_alert_step_one_way() -> None:
    assert "alerts.demo" in _imports(MODULE / "demo.py")
    assert "demo" not in _imports(MODULE / "alerts" / "demo.py")
