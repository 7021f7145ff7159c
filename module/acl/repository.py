"""The one query of the ACL check: a user's pertinent phpGACL rows for some ACOs."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .domain import AclRule, Aco, UserAcl

# Gacl::acl_query with return_all, for many ACOs at once. The user's groups are the
# groups of the 'users' ARO and every ancestor in the nested set (acl_get_groups:
# g2.lft <= g1.lft AND g2.rgt >= g1.rgt). ACLs tied to any AXO are left out, as the PHP
# does when no AXO is asked. Matching of usernames follows the column collation, as in
# OpenEMR, because the comparison happens in SQL there too.
_PERTINENT_RULES = (
    """
    SELECT ac.section_value, ac.value, a.id, a.allow, a.return_value
    FROM gacl_acl a
    JOIN gacl_aco_map ac ON ac.acl_id = a.id
    WHERE a.enabled = 1
      AND ({aco_filter})
      AND NOT EXISTS (SELECT 1 FROM gacl_axo_map ax WHERE ax.acl_id = a.id)
      AND NOT EXISTS (SELECT 1 FROM gacl_axo_groups_map axg WHERE axg.acl_id = a.id)
      AND (
        EXISTS (
          SELECT 1 FROM gacl_aro_map ar
          WHERE ar.acl_id = a.id AND ar.section_value = 'users' AND ar.value = :username
        )
        OR EXISTS (
          SELECT 1
          FROM gacl_aro_groups_map arg
          JOIN gacl_aro_groups g2 ON g2.id = arg.group_id
          JOIN gacl_aro_groups g1 ON g2.lft <= g1.lft AND g2.rgt >= g1.rgt
          JOIN gacl_groups_aro_map gm ON gm.group_id = g1.id
          JOIN gacl_aro o ON o.id = gm.aro_id
          WHERE arg.acl_id = a.id AND o.section_value = 'users' AND o.value = :username
        )
      )
    ORDER BY a.id
    """
)


class AclRepository:
    """Reads OpenEMR's phpGACL tables on the caller's connection (never writes)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def load(self, username: str, acos: Iterable[Aco]) -> UserAcl:
        """The ACL rows that apply to ``username`` for each of ``acos`` (one query)."""
        asked = frozenset(acos)
        params: dict[str, str] = {"username": username}
        terms = []
        for i, aco in enumerate(sorted(asked)):
            terms.append(f"(ac.section_value = :s{i} AND ac.value = :v{i})")
            params[f"s{i}"] = aco.section
            params[f"v{i}"] = aco.value
        sql = text(_PERTINENT_RULES.format(aco_filter=" OR ".join(terms) or "FALSE"))
        rows = self.connection.execute(sql, params).all()
        rules = tuple(
            AclRule(
                acl_id=int(row[2]) if row[2] is not None else None,
                aco=Aco(str(row[0]), str(row[1])),
                allow=row[3] is not None and int(row[3]) == 1,
                return_value=None if row[4] is None else str(row[4]),
            )
            for row in rows
        )
        # The ACO comparison happens in SQL, as in OpenEMR, so it follows the column
        # collation (case-insensitive on most sites): file each row under the asked ACO.
        by_key = {str(aco).lower(): aco for aco in asked}
        normalised = tuple(
            AclRule(r.acl_id, by_key.get(str(r.aco).lower(), r.aco), r.allow, r.return_value)
            for r in rules
        )
        return UserAcl(username=username, asked=asked, rules=normalised)
