"""The import graph of the shipped code, read with ``ast`` (imports inside functions
included; no import of the code): which module imports which, and which package imports
which. Shared by the architecture-doc test and the import-cycle test."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = "aesthetic_inventory"
# Where each importable tree lives (jobs/ installs as aesthetic_inventory.jobs).
TREES = {"module": ROOT, "jobs": f"{ROOT}.jobs", "bench": "bench"}


def modules() -> dict[str, Path]:
    """Dotted module name -> file, for module/, jobs/ and bench/."""
    found: dict[str, Path] = {}
    for folder, prefix in TREES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
    """The known modules one module imports (at any depth of its code)."""
    package = name if is_package else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}"
                targets.add(full if full in known else base)
    resolved = set()
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def module_graph() -> dict[str, set[str]]:
    """Module -> the modules of the project it imports."""
    found = modules()
    known = set(found)
    return {
        name: imported(ast.parse(path.read_text(encoding="utf-8")), name,
                       path.name == "__init__.py", known)
        for name, path in found.items()
    }


def group(name: str) -> str:
    """The top-level package a module belongs to, as the architecture doc names it."""
    parts = name.split(".")
    if parts[0] != ROOT:
        return parts[0]
    return parts[1] if len(parts) > 1 else "__init__"


def package_dependencies() -> dict[str, set[str]]:
    """Package -> the packages it imports, computed from the source."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, targets in module_graph().items():
        graph[group(name)]  # a package importing nothing is listed too
        for target in targets:
            if group(target) != group(name):
                graph[group(name)].add(group(target))
    return graph
