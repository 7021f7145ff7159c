"""What a trigger of the module is, and the one way its CREATE statement is written.

Every trigger the module puts on an OpenEMR table is *fail-safe*: its body runs under
``DECLARE CONTINUE HANDLER FOR SQLEXCEPTION``, so a missing or locked module table, or
a definer that lost a privilege on it, can never make OpenEMR's own write fail (the
change is then found by the sweep). Triggers on the module's own tables that must
refuse a write (the immutable ledger) are created with ``fail_safe=False``.

A body never contains a comment (``/*``, ``*/``, ``--``, ``#``): ``mysqldump`` wraps
each trigger in a versioned comment ``/*!50003 ... */`` and a ``*/`` inside the body
closes it early, so the backup no longer restores (issue 17 A). There is no version
stamp in the body either: the installed state is compared with the code by the body
text itself (:meth:`TriggerSpec.matches`, whitespace-insensitive), which survives a
dump and restore unchanged.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

# What ends a versioned comment or comments out the rest of a line in a dump.
COMMENT_MARKERS: tuple[str, ...] = ("/*", "*/", "--", "#")


def normalize(statement: str) -> str:
    """A trigger statement with runs of whitespace collapsed (formatting is not behaviour)."""
    return " ".join(statement.split())


def comment_markers(statement: str) -> list[str]:
    """The comment markers found in a trigger statement (empty: safe in a dump)."""
    return [m for m in COMMENT_MARKERS if m in statement]


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
    def statement(self) -> str:
        """What follows ``FOR EACH ROW``: the text the server lists as the trigger's
        ``ACTION_STATEMENT`` and a dump carries."""
        handler = "DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END; " if self.fail_safe else ""
        return f"BEGIN {handler}{self.body} END"

    @property
    def version(self) -> str:
        """A short hash of everything that defines the trigger's behaviour (for messages)."""
        text = "\n".join((self.table, self.event, normalize(self.statement)))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def matches(self, table: str, event: str, statement: str) -> bool:
        """Whether an installed trigger (table, "AFTER INSERT", body) is this one."""
        return (
            table == self.table
            and normalize(event).upper() == normalize(self.event).upper()
            and normalize(statement) == normalize(self.statement)
        )

    def create_sql(self) -> str:
        """The CREATE statement, definer = the account that runs it."""
        return (
            f"CREATE DEFINER = CURRENT_USER TRIGGER `{self.name}` {self.event} ON `{self.table}` "
            f"FOR EACH ROW {self.statement}"
        )

    def drop_sql(self) -> str:
        return f"DROP TRIGGER IF EXISTS `{self.name}`"
