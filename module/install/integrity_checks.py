"""``doctor`` checks that the clinic's history can be trusted and restored: every
trigger survives a dump (issue 17 A) and the movement ledger still matches its seals
(issue 17 G)."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from ..trigger_spec import comment_markers
from .catalog_repository import CatalogRepository
from .checks import FAIL, OK, WARN, Check
from .ledger_seal import verify_ledger

MODULE_PREFIX = "aesthetic_inventory_"


def check_backup(conn: Connection) -> Check:
    """Warn about any trigger whose statement holds a comment marker: ``mysqldump``
    wraps triggers in ``/*!50003 ... */`` and such a trigger makes the dump stop at it
    on restore (OpenEMR's backup page would produce a file that does not restore)."""
    bad = {name: found for name, body in CatalogRepository(conn).trigger_statements().items()
           if (found := comment_markers(body))}
    if not bad:
        return Check("backup", OK, "every trigger survives mysqldump and restores")
    ours = sorted(n for n in bad if n.startswith(MODULE_PREFIX))
    fix = []
    if ours:
        fix.append("run 'aesthetic-inventory migrate' (it re-creates the module's triggers "
                   "without comments)")
    if len(ours) < len(bad):
        fix.append("re-create the other triggers without comments in their bodies")
    return Check(
        "backup",
        WARN,
        f"{len(bad)} trigger(s) would break a dump: a restore stops at the first of them",
        tuple(f"trigger {n} contains {' and '.join(repr(m) for m in bad[n])}"
              for n in sorted(bad)),
        "; ".join(fix) + " before the next backup",
    )


def check_ledger_seal(conn: Connection) -> Check:
    """Fail when the ledger no longer matches its seals (rows deleted, truncated away
    or changed, or the seal chain broken)."""
    verdict = verify_ledger(conn)
    if not verdict.installed:
        return Check("ledger seal", WARN, "movement ledger or its seal table missing "
                     "(see module tables)")
    if verdict.problems:
        return Check(
            "ledger seal",
            FAIL,
            f"the movement ledger went backwards: {len(verdict.problems)} of "
            f"{verdict.seals} seal(s) no longer match",
            verdict.problems,
            "restore the ledger from a backup taken before the change and find who changed "
            "it (the runtime account should hold no TRUNCATE, ALTER, DROP or TRIGGER "
            "privilege: docs/operations.md)",
        )
    if not verdict.seals:
        return Check("ledger seal", OK, f"not sealed yet ({verdict.newer_rows} row(s); "
                     "the service and migrate seal rows older than 5 minutes)")
    return Check(
        "ledger seal",
        OK,
        f"{verdict.sealed_rows} row(s) through id {verdict.through_id} match "
        f"{verdict.seals} seal(s) (chain {verdict.chain[:12]}); {verdict.newer_rows} newer",
    )
