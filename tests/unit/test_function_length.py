"""No function in ``module/`` over 60 lines without a reason (issue #16): a longer one
carries ``# long: <reason>`` on its ``def`` line or the line above it. A function's
lines run from its ``def`` to its last line (decorators are not counted: a click
command's options are declarations, not code). Read with ``ast``, nothing imported."""

from __future__ import annotations

import ast
import re

from tests.import_graph import REPO

MODULE = REPO / "module"
MAX_LINES = 60
REASON = re.compile(r"#\s*long:\s*\S.{9,}")  # a reason of at least ten characters


def long_functions(source: str) -> list[tuple[int, str, int, bool]]:
    """(def line, name, lines, has a reason) of every function over :data:`MAX_LINES`."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length <= MAX_LINES:
                continue
            near = lines[node.lineno - 1:node.lineno]
            if node.lineno >= 2:
                near.append(lines[node.lineno - 2])
            reason = any(REASON.search(line) for line in near)
            found.append((node.lineno, node.name, length, reason))
    return sorted(found)


def test_the_check_measures_and_reads_the_reason() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    sample = (
        f"def short():\n{body[:-len('    x59 = 59')-1]}\n"  # 60 lines with its def
        f"def bare():\n{body}\n"
        f"# long: a table of sixty values, kept in one place\ndef explained():\n{body}\n"
        f"def inline():  # long: a reason on the def line itself\n{body}\n"
        f"# long: x\ndef too_short_a_reason():\n{body}\n"
    )
    found = [(name, length, reason) for _, name, length, reason in long_functions(sample)]
    assert found == [("bare", 61, False), ("explained", 61, True), ("inline", 61, True),
                     ("too_short_a_reason", 61, False)]


def test_every_long_function_says_why() -> None:
    unexplained, seen = [], 0
    for path in sorted(MODULE.rglob("*.py")):
        for line, name, length, reason in long_functions(path.read_text(encoding="utf-8")):
            seen += 1
            if not reason:
                relative = path.relative_to(REPO).as_posix()
                unexplained.append(f"{relative}:{line} {name} ({length} lines)")
    assert seen > 0  # the scan still finds the long functions that say why
    assert unexplained == [], (
        f"functions over {MAX_LINES} lines without '# long: <reason>' (split them, or say "
        "why on the def line or the line above):\n" + "\n".join(unexplained)
    )
