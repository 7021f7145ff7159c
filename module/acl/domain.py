"""The pure phpGACL decision and the module's permissions as OpenEMR ACOs.

OpenEMR asks ``AclMain::aclCheckCore(section, value, user, return_value)``:

1. unless the question *is* ``admin/super``, a user who passes ``admin/super`` passes
   everything;
2. ``Gacl::acl_query(..., return_all=true)`` returns every enabled ACL that maps the ACO
   and maps the user either directly (``gacl_aro_map``) or through one of the user's
   groups *or any ancestor group* in the nested set (``gacl_aro_groups`` lft/rgt), and
   has no AXO mapping; no such ACL means one placeholder row with an empty ``acl_id``;
3. the rows are walked: a row with an empty ``acl_id`` denies at once; when a return
   value is asked (``write``, ``view``, ``addonly``, ``wsome``), only rows with exactly
   that return value count; an allowing row grants, a denying row denies;
4. access = granted and not denied (any deny wins).

:func:`acl_check` is that walk over :class:`AclRule` rows the repository loaded; it
never touches a database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Aco:
    """An OpenEMR access control object: section and value, e.g. ``inventory/consumption``."""

    section: str
    value: str

    def __str__(self) -> str:
        return f"{self.section}/{self.value}"


SUPERUSER = Aco("admin", "super")


@dataclass(frozen=True)
class AclRule:
    """One enabled ``gacl_acl`` row that applies to the user for ``aco``."""

    acl_id: int | None
    aco: Aco
    allow: bool
    return_value: str | None


@dataclass(frozen=True)
class UserAcl:
    """The pertinent ACL rows of one user for the ACOs that were asked about.

    ``asked`` lists the ACOs the rows were loaded for: asking about another ACO is a
    programming error, not a silent deny.
    """

    username: str
    asked: frozenset[Aco]
    rules: tuple[AclRule, ...]

    def rules_for(self, aco: Aco) -> tuple[AclRule, ...]:
        """The rows for ``aco`` (empty when no ACL applies)."""
        if aco not in self.asked:
            raise ValueError(f"ACL rows for {aco} were not loaded")
        return tuple(rule for rule in self.rules if rule.aco == aco)


def _php_empty(value: str | None) -> bool:
    # PHP's empty(): null, "" and "0" are all empty; aclCheckCore uses it on both the
    # asked return value and the row's acl_id.
    return value is None or value == "" or value == "0"


def _walk(rules: Sequence[AclRule], return_values: Sequence[str]) -> bool:
    if not rules:
        # acl_query(return_all) answers one row with acl_id NULL: denied.
        return False
    access = False
    deny = False
    for rule in rules:
        if rule.acl_id is None or rule.acl_id == 0:
            return False
        for wanted in return_values:
            if _php_empty(wanted) or rule.return_value == wanted:
                if rule.allow:
                    access = True
                else:
                    deny = True
    return access and not deny


def acl_check(user: UserAcl, aco: Aco, return_value: str | Sequence[str] = "") -> bool:
    """``AclMain::aclCheckCore``: may ``user`` access ``aco`` (with ``return_value``)?

    ``return_value`` is empty (any row counts), one value, or several (a row counts when
    it matches any of them, as OpenEMR's array form).
    """
    if aco != SUPERUSER and acl_check(user, SUPERUSER):
        return True
    wanted = [return_value] if isinstance(return_value, str) else list(return_value)
    if not wanted:
        # aclCheckCore's foreach over an empty array grants nothing.
        return False
    return _walk(user.rules_for(aco), wanted)


@dataclass(frozen=True)
class Permission:
    """A module permission: granted when any of its ACOs passes :func:`acl_check`."""

    name: str
    any_of: tuple[Aco, ...]
    return_value: str = ""


# Why these ACOs (OpenEMR's installer defaults in brackets):
# - viewing a visit's materials is what OpenEMR's fee sheet shows to encounter coders
#   (encounters/coding_a, encounters/coding) and its inventory screens show to
#   inventory users (admin/drugs, which OpenEMR lets stand in for every inventory ACO,
#   inventory/lots, inventory/consumption, inventory/reporting); patients/appt adds the
#   front desk, who run the day's visit list [Administrators, Physicians, Clinicians,
#   Front Office, Accounting, Emergency Login];
# - updating actual usage moves stock out of lots, i.e. inventory consumption:
#   inventory/consumption or admin/drugs [Administrators, Physicians, Clinicians,
#   Emergency Login; not Front Office, not Accounting], as seed 003's matrix wants;
# - costs are purchase prices: inventory/purchases (where OpenEMR enters lot costs) or
#   acct/rep_a (financial reporting on anything) [Administrators, Accounting, Emergency
#   Login]. admin/drugs is deliberately NOT enough for costs: the installer grants it
#   to Physicians and Clinicians, and seed 003 hides costs from doctors and nurses;
# - stock and recall reports: inventory/reporting, admin/drugs or acct/rep_a.
VIEW_MATERIALS = Permission(
    "view materials",
    (
        Aco("encounters", "coding_a"),
        Aco("encounters", "coding"),
        Aco("admin", "drugs"),
        Aco("inventory", "lots"),
        Aco("inventory", "consumption"),
        Aco("inventory", "reporting"),
        Aco("patients", "appt"),
    ),
)
UPDATE_MATERIALS = Permission(
    "update materials", (Aco("inventory", "consumption"), Aco("admin", "drugs"))
)
VIEW_COSTS = Permission("view costs", (Aco("inventory", "purchases"), Aco("acct", "rep_a")))
VIEW_REPORTS = Permission(
    "view stock reports",
    (Aco("inventory", "reporting"), Aco("admin", "drugs"), Aco("acct", "rep_a")),
)
# A recall moves stock to quarantine and messages providers: what OpenEMR lets the
# lot screen's users do (inventory/purchases, where lots are entered and transferred;
# admin/drugs stands in for every inventory ACO).
MANAGE_RECALLS = Permission(
    "manage recalls", (Aco("inventory", "purchases"), Aco("admin", "drugs"))
)
ALL_PERMISSIONS: tuple[Permission, ...] = (
    VIEW_MATERIALS,
    UPDATE_MATERIALS,
    VIEW_COSTS,
    VIEW_REPORTS,
    MANAGE_RECALLS,
)


def acos_of(permissions: Iterable[Permission]) -> frozenset[Aco]:
    """Every ACO the permissions need, plus ``admin/super``."""
    acos = {SUPERUSER}
    for permission in permissions:
        acos.update(permission.any_of)
    return frozenset(acos)


def has_permission(user: UserAcl, permission: Permission) -> bool:
    """True when any ACO of ``permission`` passes :func:`acl_check` for ``user``."""
    return any(acl_check(user, aco, permission.return_value) for aco in permission.any_of)


@dataclass(frozen=True)
class Grants:
    """What one user may do in the module."""

    username: str
    view_materials: bool
    update_materials: bool
    view_costs: bool
    view_reports: bool
    manage_recalls: bool = False

    @property
    def any(self) -> bool:
        """May the user use the module at all?"""
        return self.view_materials or self.update_materials or self.view_reports


def grants_for(user: UserAcl) -> Grants:
    """The module's permissions of ``user``."""
    return Grants(
        username=user.username,
        view_materials=has_permission(user, VIEW_MATERIALS),
        update_materials=has_permission(user, UPDATE_MATERIALS),
        view_costs=has_permission(user, VIEW_COSTS),
        view_reports=has_permission(user, VIEW_REPORTS),
        manage_recalls=has_permission(user, MANAGE_RECALLS),
    )
