"""Pure rules of the install package: the trigger registry and spec, mapping
validation, CHECK support by server version, column definitions, the health line."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from aesthetic_inventory.errors import InvalidInputError
from aesthetic_inventory.install import triggers
from aesthetic_inventory.install.catalog_repository import ColumnInfo, column_definition
from aesthetic_inventory.install.doctor import Check, DoctorReport
from aesthetic_inventory.install.mappings import (
    mapping_problem,
    server_enforces_check,
    validate_quantity,
)
from aesthetic_inventory.install.trigger_spec import TriggerSpec, comment_markers

SPEC = TriggerSpec(
    "aesthetic_inventory_drug_inventory_au",
    "drug_inventory",
    "AFTER UPDATE",
    "INSERT INTO aesthetic_inventory_x (a) VALUES (NEW.drug_id);",
    requires=("aesthetic_inventory_x",),
)


def test_registry_lists_every_trigger_once_billing_first() -> None:
    names = [s.name for s in triggers.all_triggers()]
    assert names[:3] == [
        "aesthetic_inventory_billing_ai",
        "aesthetic_inventory_billing_au",
        "aesthetic_inventory_billing_ad",
    ]
    assert [s.name for s in triggers.ALL_TRIGGERS] == names
    assert len(set(names)) == len(names)


def test_duplicate_names_are_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(triggers, "ALL_TRIGGERS", (SPEC, SPEC))
    with pytest.raises(ValueError, match="registered twice"):
        triggers.all_triggers()


def test_install_imports_its_triggers_plainly() -> None:
    """Issue 16: no importlib registry and no module __getattr__ to dodge a cycle."""
    source = Path(triggers.__file__).read_text(encoding="utf-8")
    assert "importlib" not in source and "def __getattr__" not in source


def test_spec_sql_is_fail_safe_definer_current_user_and_compared_by_body() -> None:
    sql = SPEC.create_sql()
    assert sql.startswith("CREATE DEFINER = CURRENT_USER TRIGGER `aesthetic_inventory_drug")
    assert "DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;" in sql
    assert sql.endswith(" END") and "/*" not in sql
    assert SPEC.matches("drug_inventory", "after  insert".replace("insert", "update"),
                        "  " + SPEC.statement.replace(" ", "\n "))
    assert not SPEC.matches("drug_inventory", "AFTER UPDATE", SPEC.statement + " DO 1;")
    strict = TriggerSpec(SPEC.name, SPEC.table, SPEC.event, SPEC.body, fail_safe=False)
    assert "HANDLER" not in strict.create_sql() and strict.version != SPEC.version
    reformatted = TriggerSpec(SPEC.name, SPEC.table, SPEC.event, "  " + SPEC.body.replace(
        " ", "\n  "))
    assert reformatted.version == SPEC.version  # whitespace is not behaviour


@pytest.mark.parametrize("value", ["1", "0.3", 2, "0.0001", Decimal("99999999.9999")])
def test_valid_quantities(value: object) -> None:
    assert validate_quantity(value) == Decimal(str(value))


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("0", "greater than 0"),
        ("-1", "greater than 0"),
        ("nan", "finite"),
        ("inf", "finite"),
        ("abc", "must be a number"),
        ("0.00001", "4 decimals"),
        ("1e9", "at most"),
    ],
)
def test_invalid_quantities(value: str, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle):
        validate_quantity(value)


def test_mapping_problem() -> None:
    assert mapping_problem(Decimal(1), True, True) is None
    assert mapping_problem(Decimal(0), True, True) == "quantity 0 is not greater than 0"
    assert mapping_problem(Decimal(1), False, False) == "its product does not exist"
    assert mapping_problem(Decimal(1), True, False) == "its product is inactive"


@pytest.mark.parametrize(
    ("version", "enforced"),
    [
        ("10.11.19-MariaDB-0+deb12u1", True),
        ("10.2.1-MariaDB", True),
        ("10.1.48-MariaDB", False),
        ("8.0.16", True),
        ("8.0.15", False),
        ("5.7.44-log", False),
    ],
)
def test_check_enforced_by_version(version: str, enforced: bool) -> None:
    assert server_enforces_check(version) is enforced


def test_column_definition_keeps_type_default_and_comment() -> None:
    col = ColumnInfo("t", "code", "varchar(64)", "utf8mb4", "utf8mb4_general_ci", False,
                     "''", "billing code")
    assert column_definition(col, "latin1", "latin1_swedish_ci", True) == (
        "MODIFY `code` varchar(64) CHARACTER SET latin1 COLLATE latin1_swedish_ci NOT NULL "
        "DEFAULT '' COMMENT 'billing code'"
    )
    mysql = ColumnInfo("t", "code", "varchar(64)", "utf8mb4", "x", True, "it's", "")
    assert column_definition(mysql, "utf8mb4", "utf8mb4_unicode_ci", False).endswith(
        "COLLATE utf8mb4_unicode_ci DEFAULT 'it''s'"
    )


def test_health_line() -> None:
    ok = Check("a", "ok", "fine")
    warn = Check("b", "warn", "look")
    fail = Check("c", "fail", "broken", ("x",), "fix it")
    assert DoctorReport((ok, warn)).summary_line() == "health: ok (2 checks passed, 1 warning(s))"
    report = DoctorReport((ok, warn, fail))
    assert not report.healthy
    assert report.summary_line() == (
        "health: 1 problem(s) (c), 1 warning(s); run 'aesthetic-inventory doctor'"
    )


def test_no_module_trigger_updates_drug_inventory() -> None:
    """The engine's lock-by-update check reads LAST_INSERT_ID(expr) from its UPDATE of
    drug_inventory; the server drops that value when the table has an UPDATE trigger, so a
    lot changed by a concurrent save would be oversold. No package may put one there."""
    offending = [s.name for s in triggers.all_triggers()
                 if s.table == "drug_inventory" and "UPDATE" in s.event.upper()]
    assert offending == []


def test_no_trigger_statement_would_break_a_dump() -> None:
    """Issue 17 A: mysqldump wraps each trigger in /*!50003 ... */; a comment marker in
    the statement ends that comment early (or comments out the rest of the line)."""
    assert comment_markers("BEGIN /* aesthetic_inventory body 1 */ DO 1; END") == ["/*", "*/"]
    offending = {s.name: comment_markers(s.create_sql()) for s in triggers.all_triggers()}
    assert {n: m for n, m in offending.items() if m} == {}


def _imports_of(path: Path) -> set[str]:
    """Modules a file imports (absolute names, also inside functions)."""
    package = ["aesthetic_inventory", *path.relative_to(MODULE_DIR).with_suffix("").parts]
    if package[-1] == "__init__":
        package.pop()
    else:
        package.pop()  # the module's own package
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            found.add(name)
            found.update(f"{name}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


MODULE_DIR = Path(triggers.__file__).resolve().parent.parent


def test_no_package_imports_the_installer() -> None:
    """Issue 16 "Circles": install imports the packages whose tables it installs and
    checks; none of them imports install back (only the CLI and the demo do), so there
    is no cycle through it at file or package level, imports inside functions included."""
    offenders = sorted(
        str(path.relative_to(MODULE_DIR))
        for path in MODULE_DIR.rglob("*.py")
        if path.relative_to(MODULE_DIR).parts[0] not in ("install", "cli", "demo.py")
        and any(name.startswith("aesthetic_inventory.install") for name in _imports_of(path))
    )
    assert offenders == []
