"""OpenEMR's default access control, built the way its installer builds it.

``Installer::install_gacl`` drives phpGACL's ``GaclApi``: ``add_object_section`` /
``add_object`` for ACO sections and ACOs, ``add_group`` for the ARO groups (a nested
set under the root "OpenEMR Users"), ``add_acl`` for each grant (one ``gacl_acl`` row,
its ACOs in ``gacl_aco_map`` and its groups in ``gacl_aro_groups_map``), ids drawn from
the ``gacl_*_seq`` tables with ADOdb's GenID. Users become AROs in section ``users``
(``AclExtended::setUserAro``) mapped to groups in ``gacl_groups_aro_map``.
Used through :class:`clinic.Clinic` (``install_default_acl`` / ``add_openemr_user``).
"""

from __future__ import annotations

import time

from sqlalchemy import text
from sqlalchemy.engine import Connection

_ACCT = ["bill", "disc", "eob", "rep", "rep_a"]
_ADMIN = ["calendar", "database", "forms", "practice", "superbill", "users", "batchcom",
          "language", "super", "drugs", "acl", "multipledb", "menu", "manage_modules"]
_ENCOUNTERS = ["auth_a", "auth", "coding_a", "coding", "notes_a", "notes", "date_a", "relaxed"]
_INVENTORY = ["lots", "sales", "purchases", "transfers", "adjustments", "consumption",
              "destruction", "reporting"]
_LISTS = ["default", "state", "country", "language", "ethrace"]
_PATIENTS = ["appt", "demo", "med", "trans", "docs", "notes", "sign", "reminder", "alert",
             "disclosure", "rx", "amendment", "lab", "docs_rm", "pat_rep"]
_GROUPS = ["gadd", "gcalendar", "glog", "gdlog", "gm"]

ACO_SECTIONS = ["acct", "admin", "encounters", "lists", "patients", "squads", "sensitivities",
                "placeholder", "nationnotes", "patientportal", "menus", "groups", "inventory"]
ACOS: dict[str, list[str]] = {
    "acct": _ACCT,
    "admin": _ADMIN,
    "encounters": _ENCOUNTERS,
    "lists": _LISTS,
    "patientportal": ["portal"],
    "menus": ["modle"],
    "patients": _PATIENTS,
    "groups": _GROUPS,
    "sensitivities": ["normal", "high"],
    "placeholder": ["filler"],
    "nationnotes": ["nn_configure"],
    "inventory": _INVENTORY,
}
# (value, title) in the installer's order; all children of the root 'users'.
GROUPS = [("admin", "Administrators"), ("clin", "Clinicians"), ("doc", "Physicians"),
          ("front", "Front Office"), ("back", "Accounting"), ("breakglass", "Emergency Login")]

_EVERYTHING = {
    "acct": _ACCT, "admin": _ADMIN, "encounters": _ENCOUNTERS, "inventory": _INVENTORY,
    "lists": _LISTS, "patients": _PATIENTS, "sensitivities": ["normal", "high"],
    "nationnotes": ["nn_configure"], "patientportal": ["portal"], "menus": ["modle"],
    "groups": _GROUPS,
}
_FILLER = {"placeholder": ["filler"]}
# (group, ACOs, return value, note): Installer::install_gacl's add_acl calls.
DEFAULT_ACLS: list[tuple[str, dict[str, list[str]], str, str]] = [
    ("admin", _EVERYTHING, "write", "Administrators can do anything"),
    ("doc", {"patients": ["pat_rep"]}, "view", "Things that physicians can only read"),
    ("doc", _FILLER, "addonly", "Things that physicians can read and enter but not modify"),
    ("doc", _FILLER, "wsome", "Things that physicians can read and partly modify"),
    ("doc", {"acct": ["disc", "rep"], "admin": ["drugs"], "encounters": _ENCOUNTERS,
             "patients": ["appt", "demo", "med", "trans", "docs", "notes", "sign", "reminder",
                          "alert", "disclosure", "rx", "amendment", "lab"],
             "sensitivities": ["normal", "high"], "groups": ["gcalendar", "glog"]},
     "write", "Things that physicians can read and modify"),
    ("clin", {"patients": ["pat_rep"]}, "view", "Things that clinicians can only read"),
    ("clin", {"encounters": ["notes", "relaxed"],
              "patients": ["demo", "med", "docs", "notes", "trans", "reminder", "alert",
                           "disclosure", "rx", "amendment", "lab"],
              "sensitivities": ["normal"]},
     "addonly", "Things that clinicians can read and enter but not modify"),
    ("clin", _FILLER, "wsome", "Things that clinicians can read and partly modify"),
    ("clin", {"admin": ["drugs"], "encounters": ["auth", "coding", "notes"],
              "patients": ["appt"], "groups": ["gcalendar", "glog"]},
     "write", "Things that clinicians can read and modify"),
    ("front", {"patients": ["alert"]}, "view", "Things that front office can only read"),
    ("front", _FILLER, "addonly", "Things that front office can read and enter but not modify"),
    ("front", _FILLER, "wsome", "Things that front office can read and partly modify"),
    ("front", {"patients": ["appt", "demo"], "groups": ["gcalendar"]},
     "write", "Things that front office can read and modify"),
    ("back", {"patients": ["alert"]}, "view", "Things that back office can only read"),
    ("back", _FILLER, "addonly", "Things that back office can read and enter but not modify"),
    ("back", _FILLER, "wsome", "Things that back office can read and partly modify"),
    ("back", {"acct": _ACCT, "admin": ["practice", "superbill"],
              "encounters": ["auth_a", "coding_a", "date_a"], "patients": ["appt", "demo"]},
     "write", "Things that back office can read and modify"),
    ("breakglass", _EVERYTHING, "write", "Emergency Login user can do anything"),
]


def gen_id(conn: Connection, seq: str) -> int:
    """ADOdb GenID on a phpGACL ``*_seq`` table (the schema seeds it at 9)."""
    conn.execute(text(f"UPDATE {seq} SET id = LAST_INSERT_ID(id + 1)"))
    return int(conn.execute(text("SELECT LAST_INSERT_ID()")).scalar())


def add_group(conn: Connection, value: str, name: str, parent_id: int) -> int:
    """GaclApi::add_group: make room in the nested set right of the parent's rgt."""
    gid = gen_id(conn, "gacl_aro_groups_id_seq")
    if parent_id == 0:
        parent_rgt = 1
    else:
        parent_rgt = int(conn.execute(
            text("SELECT rgt FROM gacl_aro_groups WHERE id = :i"), {"i": parent_id}
        ).scalar())
    conn.execute(text("UPDATE gacl_aro_groups SET rgt = rgt + 2 WHERE rgt >= :r"),
                 {"r": parent_rgt})
    conn.execute(text("UPDATE gacl_aro_groups SET lft = lft + 2 WHERE lft > :r"),
                 {"r": parent_rgt})
    conn.execute(
        text("INSERT INTO gacl_aro_groups (id, parent_id, lft, rgt, name, value) "
             "VALUES (:i, :p, :l, :r, :n, :v)"),
        {"i": gid, "p": parent_id, "l": parent_rgt, "r": parent_rgt + 1, "n": name, "v": value},
    )
    return gid


def add_acl(conn: Connection, acos: dict[str, list[str]], group_ids: list[int], *,
            allow: int = 1, return_value: str = "write", note: str = "",
            aro_users: list[str] | None = None) -> int:
    """GaclApi::add_acl with AROs given as groups (and optionally single users)."""
    acl_id = gen_id(conn, "gacl_acl_seq")
    conn.execute(
        text("INSERT INTO gacl_acl (id, section_value, allow, enabled, return_value, note, "
             "updated_date) VALUES (:i, 'system', :a, 1, :r, :n, :t)"),
        {"i": acl_id, "a": allow, "r": return_value, "n": note, "t": int(time.time())},
    )
    for section, values in acos.items():
        for value in values:
            conn.execute(text("INSERT INTO gacl_aco_map (acl_id, section_value, value) "
                              "VALUES (:i, :s, :v)"), {"i": acl_id, "s": section, "v": value})
    for gid in group_ids:
        conn.execute(text("INSERT INTO gacl_aro_groups_map (acl_id, group_id) VALUES (:i, :g)"),
                     {"i": acl_id, "g": gid})
    for username in aro_users or []:
        conn.execute(text("INSERT INTO gacl_aro_map (acl_id, section_value, value) "
                          "VALUES (:i, 'users', :u)"), {"i": acl_id, "u": username})
    return acl_id


def install_default_acl(conn: Connection) -> dict[str, int]:
    """Installer::install_gacl on ``conn``; returns the group ids by group value."""
    for section in ACO_SECTIONS:
        conn.execute(
            text("INSERT INTO gacl_aco_sections (id, value, order_value, name, hidden) "
                 "VALUES (:i, :v, :o, :n, 0)"),
            {"i": gen_id(conn, "gacl_aco_sections_seq"), "v": section, "o": 10,
             "n": section.title()},
        )
    for section, values in ACOS.items():
        for value in values:
            conn.execute(
                text("INSERT INTO gacl_aco (id, section_value, value, order_value, name, hidden) "
                     "VALUES (:i, :s, :v, 10, :n, 0)"),
                {"i": gen_id(conn, "gacl_aco_seq"), "s": section, "v": value, "n": value},
            )
    groups = {"users": add_group(conn, "users", "OpenEMR Users", 0)}
    for value, name in GROUPS:
        groups[value] = add_group(conn, value, name, groups["users"])
    conn.execute(
        text("INSERT INTO gacl_aro_sections (id, value, order_value, name, hidden) "
             "VALUES (:i, 'users', 10, 'Users', 0)"),
        {"i": gen_id(conn, "gacl_aro_sections_seq")},
    )
    for group, acos, return_value, note in DEFAULT_ACLS:
        add_acl(conn, acos, [groups[group]], return_value=return_value, note=note)
    return groups


def set_user_aro(conn: Connection, username: str, full_name: str, group_values: list[str]) -> None:
    """AclExtended::setUserAro: the user's ARO and its group memberships."""
    aro_id = conn.execute(
        text("SELECT id FROM gacl_aro WHERE section_value = 'users' AND value = :u"),
        {"u": username},
    ).scalar()
    if aro_id is None:
        aro_id = gen_id(conn, "gacl_aro_seq")
        conn.execute(
            text("INSERT INTO gacl_aro (id, section_value, value, order_value, name, hidden) "
                 "VALUES (:i, 'users', :u, 10, :n, 0)"),
            {"i": aro_id, "u": username, "n": full_name},
        )
    for value in group_values:
        gid = conn.execute(text("SELECT id FROM gacl_aro_groups WHERE value = :v"),
                           {"v": value}).scalar()
        conn.execute(text("INSERT INTO gacl_groups_aro_map (group_id, aro_id) VALUES (:g, :a)"),
                     {"g": gid, "a": aro_id})
