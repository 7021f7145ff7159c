"""No import cycles in the shipped code, at file level and between top-level packages,
counting imports inside functions; and an import inside a function only for an optional
or heavy dependency, with a comment that says why (read with ``ast``, nothing imported)."""

from __future__ import annotations

import ast

from tests.import_graph import REPO, group, module_graph, modules


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one member (or a self-loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1 or node in graph.get(node, ()):
                found.append(sorted(members))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_checker_finds_a_cycle() -> None:
    # the checker itself can fail: a two-module loop and a self-loop are found
    assert strongly_connected({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert strongly_connected({"a": {"a"}}) == [["a"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_cycle_between_files() -> None:
    graph = module_graph()
    assert len(graph) > 100  # the graph still covers the code
    assert strongly_connected(graph) == []


def test_no_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for name, targets in module_graph().items():
        packages.setdefault(group(name), set()).update(
            group(t) for t in targets if group(t) != group(name))
    assert len(packages) > 10
    assert strongly_connected(packages) == []


def _function_imports(path_text: str) -> list[tuple[int, str]]:
    """(line, module) of every import inside a function body."""
    tree = ast.parse(path_text)
    found = []
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    found.extend((node.lineno, a.name) for a in node.names)
                elif isinstance(node, ast.ImportFrom):
                    found.append((node.lineno, "." * node.level + (node.module or "")))
    return found


def test_imports_inside_functions_say_why() -> None:
    unexplained = []
    for name, path in modules().items():
        if not name.startswith("aesthetic_inventory"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for lineno, target in _function_imports("\n".join(lines)):
            here, above = lines[lineno - 1], lines[lineno - 2] if lineno > 1 else ""
            if "#" not in here and not above.strip().startswith("#"):
                unexplained.append(f"{path.relative_to(REPO)}:{lineno} {target}")
    assert unexplained == [], "imports inside functions without a comment saying why"
