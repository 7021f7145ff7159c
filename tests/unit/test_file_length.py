"""Issue 16 "Rooms": no file in ``module/`` over 450 lines (split by concern instead)."""

from __future__ import annotations

from tests.import_graph import REPO

LIMIT = 450


def too_long(limit: int = LIMIT) -> list[str]:
    """The files of ``module/`` over ``limit`` lines, with their length."""
    found = []
    for path in sorted((REPO / "module").rglob("*.py")):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > limit:
            found.append(f"{path.relative_to(REPO)} ({lines} lines)")
    return found


def test_the_check_sees_the_files() -> None:
    # the check can fail: with a tiny limit every real module is reported
    assert len(too_long(limit=5)) > 100


def test_no_file_in_module_over_450_lines() -> None:
    assert too_long() == []
