"""The ACL check on the real OpenEMR schema with the installer's default groups."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aesthetic_inventory.acl import user_grants
from aesthetic_inventory.acl.domain import VIEW_COSTS, Aco, acl_check, acos_of
from aesthetic_inventory.acl.repository import AclRepository
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from openemr_acl import add_acl, add_group
from sqlalchemy.engine import Engine

pytestmark = pytest.mark.e2e

# group value -> (view materials, update materials, view costs, view reports);
# seed 003's matrix: Admin all; Doctor/Nurse view+update, no costs; Receptionist view
# only; Accountant view + costs, no update.
EXPECTED = {
    "admin": (True, True, True, True),
    "doc": (True, True, False, True),
    "clin": (True, True, False, True),
    "front": (True, False, False, False),
    "back": (True, False, True, True),
    "breakglass": (True, True, True, True),
}


@pytest.fixture(scope="module")
def acl_engine(openemr_db_url: str) -> Iterator[Engine]:
    eng = create_db_engine(openemr_db_url)
    clinic = Clinic(eng)
    clinic.install_default_acl()
    for group in EXPECTED:
        clinic.add_openemr_user(f"user_{group}", [group])
    clinic.add_openemr_user("nobody", [])
    try:
        yield eng
    finally:
        eng.dispose()


def grants(eng: Engine, username: str):  # type: ignore[no-untyped-def]
    return user_grants(lambda: UnitOfWork(eng), username)


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_default_group_grants(acl_engine: Engine, group: str) -> None:
    g = grants(acl_engine, f"user_{group}")
    assert (g.view_materials, g.update_materials, g.view_costs, g.view_reports) == EXPECTED[group]


def test_user_in_no_group_has_nothing(acl_engine: Engine) -> None:
    g = grants(acl_engine, "nobody")
    assert not (g.view_materials or g.update_materials or g.view_costs or g.view_reports)
    assert grants(acl_engine, "no-such-user").any is False


def test_installer_nested_set_matches_phpgacl(acl_engine: Engine) -> None:
    rows = Clinic(acl_engine).rows(
        "SELECT value, lft, rgt FROM gacl_aro_groups ORDER BY lft"
    )
    assert rows == [("users", 1, 14), ("admin", 2, 3), ("clin", 4, 5), ("doc", 6, 7),
                    ("front", 8, 9), ("back", 10, 11), ("breakglass", 12, 13)]


def test_user_specific_deny_beats_group_allow(acl_engine: Engine) -> None:
    clinic = Clinic(acl_engine)
    clinic.add_openemr_user("acct_denied", ["back"])
    with acl_engine.begin() as conn:
        add_acl(conn, {"acct": ["rep_a"]}, [], allow=0, return_value="write",
                aro_users=["acct_denied"])
    assert grants(acl_engine, "acct_denied").view_costs is False
    assert grants(acl_engine, "user_back").view_costs is True


def test_subgroup_inherits_parent_group_acls(acl_engine: Engine) -> None:
    """A site-made group nested under Accounting gets Accounting's ACLs (ancestors)."""
    clinic = Clinic(acl_engine)
    with acl_engine.begin() as conn:
        back_id = conn.exec_driver_sql(
            "SELECT id FROM gacl_aro_groups WHERE value = 'back'"
        ).scalar()
        add_group(conn, "back_junior", "Junior accounting", int(back_id))
    clinic.add_openemr_user("junior", ["back_junior"])
    g = grants(acl_engine, "junior")
    assert (g.view_costs, g.update_materials) == (True, False)


def test_disabled_acl_and_axo_acl_do_not_apply(acl_engine: Engine) -> None:
    clinic = Clinic(acl_engine)
    clinic.add_openemr_user("front_plus", ["front"])
    with acl_engine.begin() as conn:
        disabled = add_acl(conn, {"inventory": ["purchases"]}, [], aro_users=["front_plus"])
        conn.exec_driver_sql(f"UPDATE gacl_acl SET enabled = 0 WHERE id = {disabled}")
        axo = add_acl(conn, {"acct": ["rep_a"]}, [], aro_users=["front_plus"])
        conn.exec_driver_sql(
            f"INSERT INTO gacl_axo_map (acl_id, section_value, value) VALUES ({axo}, 'x', 'y')"
        )
    assert grants(acl_engine, "front_plus").view_costs is False
    with acl_engine.begin() as conn:
        add_acl(conn, {"inventory": ["purchases"]}, [], aro_users=["front_plus"])
    assert grants(acl_engine, "front_plus").view_costs is True


def test_one_query_loads_every_permission(acl_engine: Engine) -> None:
    import dbtools

    with acl_engine.connect() as conn, dbtools.count_statements(acl_engine) as counted:
        user = AclRepository(conn).load("user_back", acos_of([VIEW_COSTS]))
    assert len(counted.statements) == 1
    assert acl_check(user, Aco("acct", "rep_a"), "write") is True
    assert acl_check(user, Aco("acct", "rep_a"), "view") is False
