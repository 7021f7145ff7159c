"""SQL lives only in repository modules (issue #16): a string literal that is SQL, or a
statement handed to SQLAlchemy's ``text()`` / ``exec_driver_sql`` (or the project's
``execute_raw``), may only sit in a repository (``*repository*.py``, ``repositories/``),
a trigger definition, a migration, or a definition module listed below with its reason.
Read with ``ast`` (nothing imported, no database); docstrings are documentation, not SQL.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.import_graph import REPO

MODULE = REPO / "module"

# A literal that starts (after whitespace, any case) like a statement. Each keyword needs
# what follows it in SQL, so English in messages ("Show what would run", "set aside",
# "Delete a mapping") is not taken for a statement.
SQL_START = re.compile(
    r"""^\s*(?:
      SELECT\b(?=.*\bFROM\b|\s+(?:@@|VERSION|DATABASE|CURRENT_USER|COUNT|GET_LOCK|
                                   RELEASE_LOCK|IS_FREE_LOCK|LAST_INSERT_ID|NOW|\d))
    | (?:INSERT|REPLACE)\s+(?:IGNORE\s+)?INTO\b | DELETE\s+FROM\b
    | UPDATE\s+`?\w+`?(?:\s+\w+)?\s+SET\b
    | CREATE\s+(?:OR\s+REPLACE\s+|TEMPORARY\s+|UNIQUE\s+|DEFINER\s*=\S+\s+)?
        (?:TABLE|DATABASE|SCHEMA|USER|TRIGGER|INDEX|VIEW|PROCEDURE|FUNCTION|EVENT|ROLE)\b
    | ALTER\s+(?:TABLE|DATABASE|USER|VIEW|EVENT)\b
    | DROP\s+(?:TABLE|DATABASE|SCHEMA|USER|TRIGGER|INDEX|VIEW|PROCEDURE|FUNCTION|EVENT|ROLE)\b
    | TRUNCATE\s+(?:TABLE\s+)?`?\w+`?\s*$ | RENAME\s+TABLE\b
    | GRANT\s+\w[\w\s,]*\bON\b | REVOKE\s+\w[\w\s,]*\bON\b
    | SHOW\s+(?:FULL\s+|GLOBAL\s+|SESSION\s+)?(?:TABLES|COLUMNS|INDEX|INDEXES|KEYS|CREATE|
        GRANTS|VARIABLES|STATUS|DATABASES|TRIGGERS|WARNINGS|ERRORS|ENGINE|PROCESSLIST)\b
    | SET\s+(?:SESSION\b|GLOBAL\b|LOCAL\b|NAMES\b|CHARACTER\s+SET\b|TRANSACTION\b|
        PASSWORD\b|ROLE\b|DEFAULT\s+ROLE\b|@|`?\w+`?\s*=)
    | (?:UN)?LOCK\s+TABLES?\b | CALL\s+\w+\s*\(
    | WITH\s+(?:RECURSIVE\s+)?\w+(?:\s*\([\w\s,]*\))?\s+AS\s*\(
    | START\s+TRANSACTION\b | SAVEPOINT\s+\w | RELEASE\s+SAVEPOINT\b | ROLLBACK\s+TO\b
    | XA\s+(?:START|END|PREPARE|COMMIT|ROLLBACK)\b
    | (?:ANALYZE|OPTIMIZE|CHECK|REPAIR)\s+TABLE\b | LOAD\s+DATA\b
    | EXPLAIN\s+(?:SELECT|UPDATE|DELETE|INSERT)\b | DO\s+(?:SLEEP|GET_LOCK|RELEASE_LOCK)\s*\(
    )""",
    re.I | re.X | re.S,
)
# Calls whose argument is a statement wherever it comes from.
STATEMENT_CALLS = frozenset({"text", "exec_driver_sql", "execute_raw"})

# Definition modules that may hold SQL, each with its reason (paths under module/).
DEFINITION_MODULES: dict[str, str] = {}  # none today: every definition has its home
# Offenders being fixed on other branches right now; the coordinator removes each entry
# when its branch is merged. PENDING_ELSEWHERE: do not add to this list.
PENDING_ELSEWHERE: frozenset[str] = frozenset()


def allowed(relative: str) -> bool:
    """Whether a file (path under module/) may hold SQL."""
    path = Path(relative)
    return (
        "repository" in path.name
        or "repositories" in path.parts
        or "migrations" in path.parts
        or path.name in ("triggers.py", "trigger_spec.py")
        or path.name.endswith("_triggers.py")
        or relative in DEFINITION_MODULES
        or relative in PENDING_ELSEWHERE
    )


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _literal_text(node: ast.AST) -> str | None:
    """A string literal's text; an f-string's with each placeholder as ``x``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(v.value) if isinstance(v, ast.Constant) else "x" for v in node.values
        )
    return None


def _call_name(node: ast.Call) -> str:
    """``text`` (SQLAlchemy's, bare or as ``sqlalchemy.text``), ``exec_driver_sql`` (a
    method) or ``execute_raw``; other calls give their name too, never these three."""
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if not isinstance(func, ast.Attribute):
        return ""
    if func.attr == "text":  # page.text(...) is not SQLAlchemy's
        owner = func.value
        return "text" if isinstance(owner, ast.Name) and owner.id in ("sqlalchemy", "sa") else ""
    return func.attr


def sql_in(source: str) -> list[tuple[int, str]]:
    """(line, what) of every SQL literal and statement call in ``source``."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    found: list[tuple[int, str]] = []
    inside: set[int] = set()  # literals already inside an f-string
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            inside.update(id(v) for v in node.values)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _call_name(node) in STATEMENT_CALLS and node.args:
            found.append((node.lineno, f"{_call_name(node)}(...)"))
        text = _literal_text(node)
        if text is None or id(node) in docs or id(node) in inside:
            continue
        if SQL_START.match(text):
            found.append((getattr(node, "lineno", 0), " ".join(text.split())[:60]))
    return sorted(set(found))


def offenders() -> list[str]:
    found = []
    for path in sorted(MODULE.rglob("*.py")):
        relative = path.relative_to(MODULE).as_posix()
        if allowed(relative):
            continue
        found += [f"module/{relative}:{line}: {what}"
                  for line, what in sql_in(path.read_text(encoding="utf-8"))]
    return found


def test_the_check_finds_sql_and_passes_prose() -> None:
    sample = '''
"""Module docstring: SELECT a FROM b is documentation."""
from sqlalchemy import text

def f(conn, table):
    """Docstring: DELETE FROM t is fine here."""
    conn.execute(text(QUERY))
    conn.exec_driver_sql(f"ALTER TABLE `{table}` ENGINE=InnoDB")
    message = "Show what would run; set aside visits; Delete a mapping; update materials"
    hint = "  select id from drugs where active = 1"
    lock = f"SET SESSION wsrep_sync_wait = {1}"
    page.text("not SQL"); sa.text(QUERY)
    return message, hint, lock, "Create an empty database", "Lock the lots"
'''
    found = sql_in(sample)
    assert [line for line, _ in found] == [7, 8, 8, 10, 11, 12]
    assert found[0][1] == "text(...)" and found[3][1] == "select id from drugs where active = 1"


def test_allowed_places() -> None:
    assert allowed("install/health_repository.py") and allowed("alerts/repositories/outbox.py")
    assert allowed("migrations/runner.py") and allowed("install/billing_triggers.py")
    assert allowed("trigger_spec.py") and allowed("install/triggers.py")
    assert not allowed("install/doctor.py") and not allowed("cli/schema_cmds.py")


def test_listed_files_exist() -> None:
    # an entry for a file that is gone (renamed, split) would silently allow nothing
    missing = [f for f in (*DEFINITION_MODULES, *PENDING_ELSEWHERE) if not (MODULE / f).is_file()]
    assert missing == []


def test_sql_only_in_repositories() -> None:
    assert len(list(MODULE.rglob("*repository*.py"))) > 10  # the scan still reads the code
    found = offenders()
    assert found == [], "SQL outside a repository (move it into one):\n" + "\n".join(found)
