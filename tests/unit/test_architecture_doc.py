"""docs/architecture.md stays true: every path it names exists, every package of
``module/`` has its section, and its package dependency table is the one the imports
give (read with ``ast``, imports inside functions included; no database, no import of
the code)."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
ROOT = "aesthetic_inventory"
# Where each importable tree lives (jobs/ installs as aesthetic_inventory.jobs).
TREES = {"module": ROOT, "jobs": f"{ROOT}.jobs", "bench": "bench"}
PATH_PATTERN = re.compile(r"\b(?:module|jobs|bench|sql|tests|scripts)/[\w./-]*\.(?:py|sql)\b")
TABLE_PATTERN = re.compile(
    r"<!-- dependencies:start -->\s*```text\n(.*?)```\s*<!-- dependencies:end -->", re.S
)


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for module/, jobs/ and bench/."""
    found: dict[str, Path] = {}
    for folder, prefix in TREES.items():
        for path in (REPO / folder).rglob("*.py"):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


def _imported(tree: ast.AST, name: str, is_package: bool, known: set[str]) -> set[str]:
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


def _group(name: str) -> str:
    """The package a module belongs to, as the doc's table names it."""
    parts = name.split(".")
    if parts[0] != ROOT:
        return parts[0]
    return parts[1] if len(parts) > 1 else "__init__"


def package_dependencies() -> dict[str, set[str]]:
    """Package -> the packages it imports, computed from the source."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[_group(name)]  # a package importing nothing is listed too
        for target in _imported(tree, name, path.name == "__init__.py", known):
            if _group(target) != _group(name):
                graph[_group(name)].add(_group(target))
    return graph


def render_table(graph: dict[str, set[str]]) -> str:
    """The table as the doc writes it: one ``package -> deps`` line per package."""
    return "".join(
        f"{name} -> {', '.join(sorted(graph[name]))}".rstrip() + "\n" for name in sorted(graph)
    )


def test_every_named_path_exists() -> None:
    named = sorted(set(PATH_PATTERN.findall(_text())))
    assert len(named) > 50  # the pattern still finds the page's paths
    missing = [path for path in named if not (REPO / path).is_file()]
    assert missing == [], f"docs/architecture.md names files that do not exist: {missing}"


def test_every_package_has_a_section() -> None:
    text = _text()
    packages = sorted(
        p.name for p in (REPO / "module").iterdir()
        if p.is_dir() and (p / "__init__.py").is_file()
    )
    assert "cli" in packages and "consumption" in packages
    headings = [line for line in text.splitlines() if line.startswith("### ")]
    missing = [name for name in packages
               if not any(f"`module/{name}/`" in line for line in headings)]
    assert missing == [], f"packages without a section in docs/architecture.md: {missing}"
    # every top-level module of module/ is described among the base modules
    base = text.split("### Base modules", 1)[1].split("\n### ", 1)[0]
    loose = sorted(p.name for p in (REPO / "module").glob("*.py") if p.name != "__init__.py")
    undescribed = [name for name in loose if f"`module/{name}`" not in base]
    assert undescribed == [], f"module/*.py not described under 'Base modules': {undescribed}"


def test_dependency_table_matches_the_imports() -> None:
    match = TABLE_PATTERN.search(_text())
    assert match is not None, "the dependency table markers are missing"
    expected = render_table(package_dependencies())
    assert match.group(1) == expected, (
        "docs/architecture.md's dependency table differs from the imports; it should "
        "read:\n" + expected
    )
