"""Pure rules of the install package: the trigger registry and spec, mapping
validation, CHECK support by server version, column definitions, the health line."""

from __future__ import annotations

import sys
import types
from decimal import Decimal

import pytest
from aesthetic_inventory.errors import InvalidInputError
from aesthetic_inventory.install import triggers
from aesthetic_inventory.install.collations import ColumnInfo, column_definition
from aesthetic_inventory.install.doctor import Check, DoctorReport
from aesthetic_inventory.install.mappings import (
    mapping_problem,
    server_enforces_check,
    validate_quantity,
)
from aesthetic_inventory.install.trigger_spec import TriggerSpec

SPEC = TriggerSpec(
    "aesthetic_inventory_drug_inventory_au",
    "drug_inventory",
    "AFTER UPDATE",
    "INSERT INTO aesthetic_inventory_x (a) VALUES (NEW.drug_id);",
    requires=("aesthetic_inventory_x",),
)


def test_registry_has_the_billing_triggers_and_skips_missing_packages() -> None:
    names = [s.name for s in triggers.all_triggers()]
    assert names[:3] == [
        "aesthetic_inventory_billing_ai",
        "aesthetic_inventory_billing_au",
        "aesthetic_inventory_billing_ad",
    ]
    assert [s.name for s in triggers.ALL_TRIGGERS] == names


def test_a_contributing_package_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    contributed = types.ModuleType("ai_test_contrib.triggers")
    contributed.TRIGGERS = (SPEC,)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ai_test_contrib.triggers", contributed)
    monkeypatch.setattr(
        triggers,
        "TRIGGER_MODULES",
        (*triggers.TRIGGER_MODULES, "ai_test_contrib.triggers", "ai_not_installed.triggers"),
    )
    assert triggers.all_triggers()[-1] is SPEC


def test_duplicate_names_and_broken_packages_are_not_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    twice = types.ModuleType("ai_test_twice")
    twice.TRIGGERS = (SPEC, SPEC)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ai_test_twice", twice)
    monkeypatch.setattr(triggers, "TRIGGER_MODULES", ("ai_test_twice",))
    with pytest.raises(ValueError, match="registered twice"):
        triggers.all_triggers()
    # a package that exists but fails on a missing dependency must not be skipped
    def fail(name: str) -> types.ModuleType:
        raise ModuleNotFoundError("No module named 'requests'", name="requests")

    monkeypatch.setattr(triggers.importlib, "import_module", fail)
    with pytest.raises(ModuleNotFoundError):
        triggers.all_triggers()


def test_spec_sql_is_fail_safe_definer_current_user_and_stamped() -> None:
    sql = SPEC.create_sql()
    assert sql.startswith("CREATE DEFINER = CURRENT_USER TRIGGER `aesthetic_inventory_drug")
    assert "DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;" in sql
    assert SPEC.stamp in sql and sql.endswith(" END")
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
