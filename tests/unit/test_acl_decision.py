"""The phpGACL decision (AclMain::aclCheckCore over acl_query rows), without a database."""

from __future__ import annotations

import pytest
from aesthetic_inventory.acl.domain import (
    SUPERUSER,
    UPDATE_MATERIALS,
    VIEW_COSTS,
    AclRule,
    Aco,
    UserAcl,
    acl_check,
    acos_of,
    grants_for,
    has_permission,
)

DRUGS = Aco("admin", "drugs")
CONSUMPTION = Aco("inventory", "consumption")
PURCHASES = Aco("inventory", "purchases")
REP_A = Aco("acct", "rep_a")


def user(*rules: AclRule, asked: frozenset[Aco] | None = None) -> UserAcl:
    from aesthetic_inventory.acl.domain import ALL_PERMISSIONS

    return UserAcl("u", asked or acos_of(ALL_PERMISSIONS), tuple(rules))


def rule(aco: Aco, allow: bool = True, rv: str | None = "write", acl_id: int | None = 10):
    return AclRule(acl_id, aco, allow, rv)


def test_no_rows_denies() -> None:
    assert acl_check(user(), DRUGS) is False


def test_allow_row_grants_without_return_value() -> None:
    assert acl_check(user(rule(DRUGS)), DRUGS) is True


def test_any_deny_wins_over_allow() -> None:
    u = user(rule(DRUGS, acl_id=10), rule(DRUGS, allow=False, acl_id=11))
    assert acl_check(u, DRUGS) is False


def test_return_value_must_match_exactly() -> None:
    u = user(rule(DRUGS, rv="view"))
    assert acl_check(u, DRUGS, "write") is False
    assert acl_check(u, DRUGS, "view") is True
    assert acl_check(u, DRUGS, ["write", "view"]) is True


def test_deny_with_other_return_value_does_not_count() -> None:
    u = user(rule(DRUGS, rv="write"), rule(DRUGS, allow=False, rv="view", acl_id=12))
    assert acl_check(u, DRUGS, "write") is True
    assert acl_check(u, DRUGS) is False  # no return value asked: every row counts


def test_php_empty_return_value_zero_means_any() -> None:
    assert acl_check(user(rule(DRUGS, rv="write")), DRUGS, "0") is True


def test_empty_acl_id_denies_even_with_allowing_rows() -> None:
    u = user(rule(DRUGS, acl_id=10), rule(DRUGS, acl_id=0))
    assert acl_check(u, DRUGS) is False


def test_superuser_passes_everything_even_a_deny() -> None:
    u = user(rule(SUPERUSER), rule(DRUGS, allow=False))
    assert acl_check(u, DRUGS) is True
    assert acl_check(u, DRUGS, "view") is True


def test_denied_superuser_is_not_superuser() -> None:
    u = user(rule(SUPERUSER), rule(SUPERUSER, allow=False, acl_id=11))
    assert acl_check(u, DRUGS) is False


def test_empty_return_value_list_grants_nothing() -> None:
    assert acl_check(user(rule(DRUGS)), DRUGS, []) is False


def test_asking_an_unloaded_aco_is_an_error() -> None:
    u = user(asked=frozenset({DRUGS, SUPERUSER}))
    with pytest.raises(ValueError):
        acl_check(u, Aco("patients", "demo"))


def test_update_needs_consumption_or_drugs() -> None:
    assert has_permission(user(rule(CONSUMPTION)), UPDATE_MATERIALS)
    assert has_permission(user(rule(DRUGS)), UPDATE_MATERIALS)
    assert not has_permission(user(rule(PURCHASES)), UPDATE_MATERIALS)


def test_costs_need_purchases_or_rep_a_not_drugs() -> None:
    assert has_permission(user(rule(PURCHASES)), VIEW_COSTS)
    assert has_permission(user(rule(REP_A)), VIEW_COSTS)
    assert not has_permission(user(rule(DRUGS)), VIEW_COSTS)


def test_grants_of_a_denied_cost_aco() -> None:
    g = grants_for(user(rule(REP_A), rule(REP_A, allow=False, acl_id=20), rule(DRUGS)))
    assert (g.view_materials, g.update_materials, g.view_costs) == (True, True, False)
