"""What a trigger of the module is, and the one way its CREATE statement is written.

Every trigger the module puts on an OpenEMR table is *fail-safe*: its body runs under
``DECLARE CONTINUE HANDLER FOR SQLEXCEPTION``, so a missing or locked module table, or
a definer that lost a privilege on it, can never make OpenEMR's own write fail (the
change is then found by the sweep). Triggers on the module's own tables that must
refuse a write (the immutable ledger) are created with ``fail_safe=False``.

The body carries a version stamp (a hash of the body) in a comment, so the installed
state can be compared with the code: a trigger whose stamp differs is outdated.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

STAMP_PREFIX = "aesthetic_inventory body "
# Part of every version: bump it when create_sql() changes what it wraps around a body
# (the handler), so installed triggers are re-created.
WRAPPER_FORMAT = "1"


@dataclass(frozen=True)
class TriggerSpec:
    """One trigger: ``CREATE TRIGGER name <event> ON table FOR EACH ROW BEGIN body END``."""

    name: str  # aesthetic_inventory_<table>_<suffix>, at most 64 characters
    table: str
    event: str  # "AFTER INSERT", "AFTER UPDATE", "BEFORE DELETE", ...
    body: str  # statements of the body, each ending with ';'
    requires: tuple[str, ...] = ()  # module tables the body writes to
    fail_safe: bool = True

    @property
    def version(self) -> str:
        """A short hash of everything that defines the trigger's behaviour."""
        text = "\n".join(
            (
                WRAPPER_FORMAT,
                self.table,
                self.event,
                " ".join(self.body.split()),
                str(self.fail_safe),
            )
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def stamp(self) -> str:
        """The comment the installed body carries, compared by ``doctor`` and ``migrate``."""
        return f"/* {STAMP_PREFIX}{self.version} */"

    def create_sql(self) -> str:
        """The CREATE statement, definer = the account that runs it."""
        handler = "DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; " if self.fail_safe else ""
        return (
            f"CREATE DEFINER = CURRENT_USER TRIGGER `{self.name}` {self.event} ON `{self.table}` "
            f"FOR EACH ROW BEGIN {self.stamp} {handler}{self.body} END"
        )

    def drop_sql(self) -> str:
        return f"DROP TRIGGER IF EXISTS `{self.name}`"
