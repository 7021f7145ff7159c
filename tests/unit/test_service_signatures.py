"""Issue 16: services take a unit of work or a factory, never "a factory or an engine"
(read with ``ast``: no parameter annotation of ``module/`` names both)."""

from __future__ import annotations

import ast

from tests.import_graph import REPO


def either_or(source: str) -> list[str]:
    """Parameters annotated with a union of a unit-of-work factory and an engine."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            for arg in args:
                text = ast.unparse(arg.annotation) if arg.annotation else ""
                if "Engine" in text and ("Factory" in text or "UnitOfWork" in text):
                    found.append(f"{node.name}({arg.arg}: {text})")
    return found


def test_the_check_finds_an_either_or_parameter() -> None:
    assert either_or("def f(uow: UnitOfWorkFactory | Engine) -> None: ...") == [
        "f(uow: UnitOfWorkFactory | Engine)"]
    assert either_or("def f(uow: UnitOfWorkFactory, engine: Engine) -> None: ...") == []


def test_no_service_takes_a_factory_or_an_engine() -> None:
    found = []
    for path in sorted((REPO / "module").rglob("*.py")):
        found += [f"{path.relative_to(REPO)}: {hit}"
                  for hit in either_or(path.read_text(encoding="utf-8"))]
    assert found == []
