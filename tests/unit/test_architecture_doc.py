"""docs/architecture.md stays true: every path it names exists, every package of
``module/`` has its section, and its package dependency table is the one the imports
give (read with ``ast``, imports inside functions included; no database, no import of
the code)."""

from __future__ import annotations

import re

from tests.import_graph import REPO, package_dependencies

DOC = REPO / "docs" / "architecture.md"
PATH_PATTERN = re.compile(r"\b(?:module|jobs|bench|sql|tests|scripts)/[\w./-]*\.(?:py|sql)\b")
TABLE_PATTERN = re.compile(
    r"<!-- dependencies:start -->\s*```text\n(.*?)```\s*<!-- dependencies:end -->", re.S
)


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


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
