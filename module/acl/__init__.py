"""OpenEMR's phpGACL permission check, reproduced in Python.

``domain`` holds the pure decision (``AclMain::aclCheckCore`` over the rows
``Gacl::acl_query`` returns) and the module's permissions expressed as OpenEMR ACOs;
``repository`` owns the one query that fetches a user's pertinent ACL rows; ``service``
ties them together for callers holding a unit of work or a connection.
"""

from .domain import (
    MANAGE_RECALLS,
    SUPERUSER,
    UPDATE_MATERIALS,
    VIEW_COSTS,
    VIEW_MATERIALS,
    VIEW_REPORTS,
    AclRule,
    Aco,
    Grants,
    Permission,
    UserAcl,
    acl_check,
    grants_for,
    has_permission,
)
from .repository import AclRepository
from .service import load_grants, user_grants

__all__ = [
    "MANAGE_RECALLS",
    "SUPERUSER",
    "UPDATE_MATERIALS",
    "VIEW_COSTS",
    "VIEW_MATERIALS",
    "VIEW_REPORTS",
    "Aco",
    "AclRepository",
    "AclRule",
    "Grants",
    "Permission",
    "UserAcl",
    "acl_check",
    "grants_for",
    "has_permission",
    "load_grants",
    "user_grants",
]
