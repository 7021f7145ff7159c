"""The one installer of the module's triggers (create if missing or outdated, check,
drop), over :data:`ALL_TRIGGERS`.

Each package defines its own triggers in its ``triggers`` module on
:class:`~aesthetic_inventory.trigger_spec.TriggerSpec` (which lives below every
package): ``install.billing_triggers`` (the fee sheet's change queue),
``consumption.triggers`` (stock arriving for a shortage), ``stock.triggers`` (the
movement ledger, its seals and their guards), ``usage.triggers`` (fee-sheet edits of
our rows). The installer imports them plainly; none of them imports the installer, so
there is no cycle. A new package's triggers are one line in :data:`ALL_TRIGGERS`.

Installed state is read from ``information_schema.TRIGGERS`` and compared with the
specs: the body text (outdated?), the definer (does the account still
exist, may it INSERT into the tables the body writes?). A trigger runs as its
definer; when that account is dropped the server raises error 1449 *before* any
handler runs, so OpenEMR's own write fails: ``migrate`` re-creates such triggers with
``DEFINER = CURRENT_USER``. Where the account may not create triggers, the module
runs in sweep mode and says so instead of failing the migration.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from ..alerts import triggers as alert_triggers
from ..consumption import triggers as arrival_triggers
from ..consumption.containers import triggers as draw_triggers
from ..db import existing_tables, mysql_error_code
from ..stock import triggers as ledger_triggers
from ..usage import triggers as usage_triggers
from . import billing_triggers
from .billing_triggers import QUEUE_TABLE
from .catalog_repository import CatalogRepository, InstalledTrigger
from .trigger_spec import TriggerSpec

# Every trigger of the module, in install order (the billing triggers first).
ALL_TRIGGERS: tuple[TriggerSpec, ...] = (
    *billing_triggers.TRIGGERS,
    *arrival_triggers.TRIGGERS,  # drug_sales: stock arrival (engine)
    *ledger_triggers.TRIGGERS,
    *usage_triggers.TRIGGERS,
    *alert_triggers.TRIGGERS,  # drug_sales, drugs: products the alert scan re-evaluates
    *draw_triggers.TRIGGERS,  # vial draws: their ISSUE rows in the movement ledger
)

# The billing triggers by name (callers iterate their names).
TRIGGERS: dict[str, TriggerSpec] = {spec.name: spec for spec in billing_triggers.TRIGGERS}

# Errors that mean "not allowed to create triggers" (or binary-log restrictions):
# 1142 command denied, 1227 needs SUPER, 1419 log_bin_trust_function_creators,
# 1044 access denied to database, 1370 routine privilege, 1465 triggers on system tables.
PRIVILEGE_ERRORS = frozenset({1044, 1142, 1227, 1370, 1419, 1465})

SWEEP_HINT = (
    "the service falls back to sweeping recent visits; run 'aesthetic-inventory sync' "
    "or grant the TRIGGER privilege and run migrate again"
)

OK = "ok"
MISSING = "missing"
OUTDATED = "outdated"
DEFINER_MISSING = "definer missing"
DEFINER_UNPRIVILEGED = "definer lacks INSERT"
TABLE_MISSING = "table missing"  # a table the body writes is gone: the trigger does nothing
# The server lists triggers only on tables the account holds TRIGGER on.
NOT_VISIBLE = "not visible"
UNVERIFIABLE = "unverifiable"
# States migrate repairs; "unverifiable" (the account may not read the grants) is not one.
NEEDS_INSTALL = frozenset(
    {MISSING, OUTDATED, DEFINER_MISSING, DEFINER_UNPRIVILEGED, TABLE_MISSING}
)


def all_triggers() -> tuple[TriggerSpec, ...]:
    """Every trigger spec of the module (:data:`ALL_TRIGGERS`), names checked unique."""
    names = [s.name for s in ALL_TRIGGERS]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError("trigger names registered twice: " + ", ".join(duplicates))
    return ALL_TRIGGERS


@dataclass(frozen=True)
class TriggerCheck:
    """The state of one registered trigger in the database."""

    spec: TriggerSpec
    state: str
    detail: str
    definer: str | None = None

    @property
    def needs_install(self) -> bool:
        return self.state in NEEDS_INSTALL


@dataclass(frozen=True)
class TriggerReport:
    """What ``migrate`` did about the triggers, and the mode that results."""

    installed: bool
    mode: str  # "triggers" or "sweep"
    message: str
    created: tuple[str, ...] = ()
    replaced: tuple[str, ...] = ()


def installed_triggers(conn: Connection) -> dict[str, InstalledTrigger]:
    """The module's triggers in the current database, by name."""
    return CatalogRepository(conn).module_triggers()


def _definer_state(
    conn: Connection, definer: str, tables: tuple[str, ...], cache: dict[tuple[str, str], str]
) -> tuple[str, str]:
    key = (definer, ",".join(tables))
    if key not in cache:
        catalog = CatalogRepository(conn)
        exists = catalog.account_exists(definer)
        if exists is None:
            cache[key] = UNVERIFIABLE
        elif not exists:
            cache[key] = DEFINER_MISSING
        else:
            lacking = [t for t in tables if not catalog.has_privilege(definer, "INSERT", t)]
            cache[key] = DEFINER_UNPRIVILEGED if lacking else OK
    state = cache[key]
    details = {
        OK: f"definer {definer}",
        UNVERIFIABLE: f"definer {definer} (its grants cannot be read by this account)",
        DEFINER_MISSING: f"its definer {definer} does not exist (OpenEMR's writes on the "
        "table fail with error 1449)",
        DEFINER_UNPRIVILEGED: f"its definer {definer} may not INSERT into "
        + ", ".join(tables),
    }
    return state, details[state]


def check_triggers(
    conn: Connection, specs: tuple[TriggerSpec, ...] | None = None
) -> tuple[TriggerCheck, ...]:
    """Compare every registered trigger with what is installed."""
    wanted = all_triggers() if specs is None else specs
    catalog = CatalogRepository(conn)
    installed = catalog.module_triggers()
    required = {t for spec in wanted for t in spec.requires}
    present = existing_tables(conn, required) if required else set()
    cache: dict[tuple[str, str], str] = {}
    visible: dict[str, bool] = {}
    checks: list[TriggerCheck] = []
    for spec in wanted:
        found = installed.get(spec.name)
        if found is None:
            if spec.table not in visible:
                me = catalog.current_user()
                visible[spec.table] = catalog.has_privilege(me, "TRIGGER", spec.table)
            if not visible[spec.table]:
                detail = (f"trigger {spec.name} cannot be seen: this account lacks the "
                          f"TRIGGER privilege on {spec.table}")
                checks.append(TriggerCheck(spec, NOT_VISIBLE, detail))
                continue
            checks.append(TriggerCheck(spec, MISSING, f"trigger {spec.name} is missing"))
            continue
        if not found.statement and not found.definer:
            # The row is listed but body and definer are hidden from this account.
            detail = (f"trigger {spec.name} exists but its body cannot be read: this account "
                      f"lacks the TRIGGER privilege on {spec.table}")
            checks.append(TriggerCheck(spec, UNVERIFIABLE, detail))
            continue
        gone = [t for t in spec.requires if t not in present]
        if gone:
            detail = (f"trigger {spec.name} writes to missing table(s) {', '.join(gone)}: "
                      "changes are not queued")
            checks.append(TriggerCheck(spec, TABLE_MISSING, detail, found.definer))
            continue
        if not spec.matches(found.table, found.event, found.statement):
            checks.append(
                TriggerCheck(
                    spec,
                    OUTDATED,
                    f"trigger {spec.name} is outdated (its body is not version {spec.version})",
                    found.definer,
                )
            )
            continue
        state, detail = _definer_state(conn, found.definer, spec.requires, cache)
        checks.append(TriggerCheck(spec, state, f"trigger {spec.name}: {detail}", found.definer))
    return tuple(checks)


def _install(
    catalog: CatalogRepository, spec: TriggerSpec, *, exists: bool, mariadb: bool
) -> None:
    if exists and mariadb:
        # One statement: OpenEMR's writes never run between a DROP and a CREATE.
        catalog.execute_ddl(spec.create_sql().replace("CREATE ", "CREATE OR REPLACE ", 1))
        return
    if exists:
        catalog.execute_ddl(spec.drop_sql())
    catalog.execute_ddl(spec.create_sql())


def _mode(checks: tuple[TriggerCheck, ...]) -> str:
    """Triggers mode when every billing trigger exists and can write the queue."""
    working = {c.spec.name for c in checks if c.state in (OK, OUTDATED, UNVERIFIABLE)}
    return "triggers" if all(name in working for name in TRIGGERS) else "sweep"


def _planned(todo: list[TriggerCheck], blocked: list[TriggerCheck], present: set[str]) -> str:
    """What a dry run of :func:`ensure_triggers` would do."""
    parts = [
        f"would {'create' if c.state == MISSING else 're-create'} {c.spec.name} ({c.state})"
        for c in todo
    ]
    if blocked:
        tables = sorted({t for c in blocked for t in c.spec.requires if t not in present})
        parts.append(
            f"would install {', '.join(c.spec.name for c in blocked)} "
            f"(after {', '.join(tables)} is created)"
        )
    return "; ".join(parts)


def _installed(conn: Connection, created: tuple[str, ...], replaced: tuple[str, ...]
               ) -> TriggerReport:
    """The report after installing: what was done and what still needs repair."""
    after = check_triggers(conn)
    bad = [c for c in after if c.needs_install]
    parts = []
    if created:
        parts.append("created " + ", ".join(created))
    if replaced:
        parts.append("re-created " + ", ".join(replaced))
    parts += [c.detail for c in bad]
    return TriggerReport(not bad, _mode(after), "; ".join(parts), created, replaced)


def ensure_triggers(conn: Connection, *, dry_run: bool = False) -> TriggerReport:
    """Create missing triggers and re-create outdated ones or ones whose definer is gone
    or lost INSERT (as the current account); report sweep mode when not allowed.

    Idempotent: current triggers are kept. A dry run creates nothing and reports what
    it would do. Never raises for a missing privilege.
    """
    checks = check_triggers(conn)
    todo = [c for c in checks if c.needs_install]
    if any(c.state == NOT_VISIBLE for c in checks):
        return TriggerReport(
            False,
            _mode(checks),
            "triggers cannot be checked or created: the database user lacks the TRIGGER "
            "privilege; " + SWEEP_HINT,
        )
    if not todo:
        unsure = sum(1 for c in checks if c.state == UNVERIFIABLE)
        note = f" ({unsure} not verifiable by this account)" if unsure else ""
        return TriggerReport(
            True, "triggers", f"{len(checks)} trigger(s) installed and current{note}"
        )
    required = {t for c in todo for t in c.spec.requires}
    present = existing_tables(conn, required) if required else set()
    blocked = [c for c in todo if not set(c.spec.requires) <= present]
    todo = [c for c in todo if c not in blocked]
    if dry_run:
        return TriggerReport(False, _mode(checks), _planned(todo, blocked, present))
    catalog = CatalogRepository(conn)
    mariadb = catalog.is_mariadb()
    created: list[str] = []
    replaced: list[str] = []
    for check in todo:
        try:
            _install(catalog, check.spec, exists=check.state != MISSING, mariadb=mariadb)
        except DBAPIError as exc:
            code = mysql_error_code(exc)
            if code not in PRIVILEGE_ERRORS:
                raise
            for done in created:  # all or none: a partial set would miss changes silently
                catalog.execute_ddl(f"DROP TRIGGER IF EXISTS `{done}`")
            after = check_triggers(conn)
            return TriggerReport(
                False,
                _mode(after),
                f"triggers could not be created (MySQL error {code}: the database "
                "user lacks the TRIGGER privilege or binary logging forbids it); " + SWEEP_HINT,
                replaced=tuple(replaced),
            )
        (created if check.state == MISSING else replaced).append(check.spec.name)
    return _installed(conn, tuple(created), tuple(replaced))


def trigger_status(conn: Connection) -> TriggerReport:
    """Whether the registered triggers exist, are current and can write."""
    checks = check_triggers(conn)
    bad = [c for c in checks if c.needs_install]
    mode = _mode(checks)
    if not bad:
        return TriggerReport(True, mode, f"{len(checks)} trigger(s) installed and current")
    if any(c.state == NOT_VISIBLE for c in checks):
        return TriggerReport(
            False, mode, "triggers not visible to this account (no TRIGGER privilege); "
            + SWEEP_HINT
        )
    if all(c.state == MISSING for c in checks):
        return TriggerReport(False, mode, "triggers not installed; " + SWEEP_HINT)
    detail = "; ".join(c.detail for c in bad)
    hint = " (run migrate again)" if mode == "triggers" else "; " + SWEEP_HINT
    return TriggerReport(False, mode, detail + hint)


def drop_statements(conn: Connection) -> list[str]:
    """DROP statements for every module trigger installed (registered or not)."""
    return [f"DROP TRIGGER IF EXISTS `{n}`" for n in sorted(installed_triggers(conn))]


__all__ = [
    "ALL_TRIGGERS",
    "QUEUE_TABLE",
    "TRIGGERS",
    "TriggerCheck",
    "TriggerReport",
    "all_triggers",
    "check_triggers",
    "ensure_triggers",
    "trigger_status",
]
