"""Database engine, URL masking, error translation and OpenEMR preconditions."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, NoSuchModuleError

from .db_repository import MODULE_TABLE_PATTERN as MODULE_TABLE_PATTERN
from .db_repository import WRITER_INIT_COMMAND as WRITER_INIT_COMMAND
from .db_repository import current_database, on_connect, table_engines
from .db_repository import existing_tables as existing_tables
from .errors import (
    AestheticInventoryError,
    ConfigurationError,
    DatabaseUnavailableError,
    NotOpenEMRError,
    UnsupportedEngineError,
)

# Tables any OpenEMR 7 database has; missing ones mean "this is not OpenEMR".
OPENEMR_CORE_TABLES: tuple[str, ...] = (
    "drugs",
    "drug_inventory",
    "drug_sales",
    "billing",
    "codes",
    "code_types",
    "form_encounter",
    "background_services",
    "globals",
    "version",
)

# Tables the module locks or relies on for atomicity: they must honour transactions and
# row locks (with MyISAM, the per-visit lock on form_encounter is a no-op and concurrent
# reconciles double-deduct). Every module table (aesthetic_inventory_*) is checked too.
STOCK_TABLES: tuple[str, ...] = (
    "drugs",
    "drug_inventory",
    "drug_sales",
    "billing",
    "form_encounter",
    "background_services",
    "procedure_products",
)
# MODULE_TABLE_PATTERN, WRITER_INIT_COMMAND (every connection marks the module's own
# writes for the triggers) and existing_tables live with their SQL in db_repository.py.

T = TypeVar("T")


class StaleReadError(AestheticInventoryError):
    """A compare-and-set found that another transaction (on this server or another
    cluster node) changed the rows this one decided on: nothing is written, and
    the whole transaction is run again on fresh data."""


class ConflictRetryExhaustedError(AestheticInventoryError):
    """A transaction lost a lock or certification conflict on every attempt. The
    work is not done and nothing of it is left; the caller may try again later
    (the web API answers 503 with ``Retry-After``)."""

    http_status = 503

    def __init__(self, message: str, *, attempts: int, retry_after_seconds: int = 2) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.retry_after_seconds = retry_after_seconds

    def http_headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


# MySQL/MariaDB error numbers.
ER_DBACCESS_DENIED = 1044
ER_ACCESS_DENIED = 1045
ER_BAD_DB = 1049
ER_LOCK_WAIT_TIMEOUT = 1205
ER_LOCK_DEADLOCK = 1213
# MySQL Group Replication (multi-primary): a certification failure at commit is
# "Plugin instructed the server to rollback the current transaction" (3101). Galera
# reports its certification failures as a deadlock (1213).
ER_TRANSACTION_ROLLBACK_DURING_COMMIT = 3101
ER_DUP_ENTRY = 1062
# Conflicts that roll the transaction back and go away when it is run again.
RETRYABLE_CONFLICTS = frozenset(
    {ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_TRANSACTION_ROLLBACK_DURING_COMMIT}
)
CR_CONN_HOST_ERROR = 2003
CR_SERVER_GONE = 2006
CR_SERVER_LOST = 2013
CONNECTION_ERRORS = frozenset({2002, CR_CONN_HOST_ERROR, 2005, CR_SERVER_GONE, CR_SERVER_LOST})
# A statement the account has no privilege for: table (1142), column (1143), a
# global privilege such as SUPER (1227), a routine (1370), and triggers under binary
# logging without SUPER or log_bin_trust_function_creators (1419).
PRIVILEGE_ERRORS = frozenset({1142, 1143, 1227, 1370, 1419})


def parse_database_url(url: str | URL) -> URL:
    """Parse and validate a SQLAlchemy MySQL/MariaDB URL."""
    try:
        parsed = make_url(url)
    except ValueError:  # make_url's own error for a port that is not a number
        raise ConfigurationError(
            "database URL has a bad port: it must be a number 1-65535"
        ) from None
    except ArgumentError:
        raise ConfigurationError(
            "database URL is malformed; expected e.g. "
            "mysql+pymysql://openemr:secret@127.0.0.1:3306/openemr"
        ) from None
    if parsed.get_backend_name() not in ("mysql", "mariadb"):
        raise ConfigurationError(
            f"database URL must use a MySQL/MariaDB driver (mysql+pymysql://...), "
            f"got {parsed.drivername}://"
        )
    # PyMySQL unless the URL names mysqlclient (``mysql+mysqldb://``, the optional
    # ``[fast]`` extra); a bare ``mysql://`` would mean mysqlclient to SQLAlchemy
    if parsed.drivername in ("mysql+mysqldb", "mariadb+mysqldb"):
        return parsed
    if parsed.get_driver_name() in ("mysqldb", "default", "") or parsed.drivername in (
        "mysql",
        "mariadb",
    ):
        parsed = parsed.set(drivername="mysql+pymysql")
    return parsed


def mask_url(url: str | URL | None) -> str:
    """Render a URL with its password replaced by ``***`` (safe to print or log)."""
    if url is None:
        return "(none)"
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(malformed URL)"


def create_db_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Build the engine: PyMySQL, READ COMMITTED, utf8mb4, and the session
    variable ``@aesthetic_inventory_writer`` that marks the module's own writes
    (``kwargs`` override the engine options: the web server's engines do).

    A pooled connection is pinged before use only when it sat idle
    :data:`IDLE_PING_SECONDS` or more (:func:`ping_when_idle`), not on every checkout:
    a pre-ping was one more round trip on every fee-sheet save (issue 21). A caller
    that passes ``pool_pre_ping`` chooses its own checks.

    READ COMMITTED keeps InnoDB from taking gap locks on plain reads, which makes
    lock conflicts between concurrent fee-sheet saves rarer; correctness comes from
    the explicit ``SELECT ... FOR UPDATE`` of the rows each reconcile depends on.
    """
    parsed = parse_database_url(url)
    query = dict(parsed.query)
    query.setdefault("charset", "utf8mb4")
    parsed = parsed.set(query=query)
    connect_args: dict[str, Any] = {"connect_timeout": 10}
    connect_args.update(kwargs.pop("connect_args", {}))
    try:
        options: dict[str, Any] = {
            "isolation_level": "READ COMMITTED",
            "pool_pre_ping": False,
            "pool_recycle": 3600,
            # Every access goes through a Connection, which rolls back a transaction it
            # still holds when closed; the pool's own rollback on return would only add
            # a round trip to every committed unit of work.
            "pool_reset_on_return": None,
        }
        idle_ping = "pool_pre_ping" not in kwargs
        options.update(kwargs)  # the web engine: no pre-ping, autocommit reads
        engine = create_engine(parsed, connect_args=connect_args, **options)
    except NoSuchModuleError:
        raise ConfigurationError(f"unsupported database driver {parsed.drivername}") from None
    except ImportError:
        raise ConfigurationError(
            f"{parsed.drivername}:// needs the optional mysqlclient driver: "
            "pip install 'aesthetic-inventory[fast]' (or use mysql+pymysql://)") from None
    if idle_ping:
        ping_when_idle(engine, IDLE_PING_SECONDS)
    # after the driver's own init_command (a caller may pass one, e.g. an sql_mode)
    event.listen(engine, "connect", _align_connection_collation)
    return engine


# A pooled connection idle this long is pinged before use (create_db_engine's default).
# The service's workers and a benchmark's saves reuse their connections far sooner; one
# that sat through a server restart or a dropped connection is checked and replaced.
IDLE_PING_SECONDS = 1.0


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use only when it sat idle ``idle_seconds`` or
    more (for an engine without ``pool_pre_ping``: a busy server pays no ping per
    request, a connection the database dropped overnight is still replaced).

    A failed ping raises ``DisconnectionError``, on which the pool retries the checkout
    with a fresh connection."""

    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["aesthetic_inventory_idle_since"] = time.monotonic()

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("aesthetic_inventory_idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            dbapi_connection.ping(reconnect=False)
        except Exception as exc:  # the driver's own error type: the server went away
            raise DisconnectionError(str(exc)) from exc

    event.listen(engine, "checkin", on_checkin)
    event.listen(engine, "checkout", on_checkout)


def _align_connection_collation(dbapi_connection: Any, _record: Any) -> None:
    # marks the session as the module's and aligns its collation (db_repository.py)
    on_connect(dbapi_connection)


def mysql_error_code(exc: BaseException) -> int | None:
    """The MySQL error number carried by a DBAPI error, if any."""
    orig = getattr(exc, "orig", exc)
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):
        return args[0]
    return None


def root_cause(exc: BaseException) -> BaseException:
    """The error that really happened: SQLAlchemy's ``PendingRollbackError`` (a
    statement sent on a connection whose transaction already failed) and our own
    wrappers hide the driver error in their cause or context chain."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if mysql_error_code(current) is not None or isinstance(current, StaleReadError):
            return current
        current = current.__cause__ or current.__context__
    return exc


def is_lock_conflict(exc: BaseException) -> bool:
    """True when the transaction lost a conflict and may simply be run again: a
    deadlock (1213, also Galera's certification failure), a lock wait timeout
    (1205), a Group Replication certification failure (3101), a compare-and-set
    that found stale data, or a retry bound already reached for one of these."""
    if isinstance(exc, ConflictRetryExhaustedError):
        return True
    cause = root_cause(exc)
    return isinstance(cause, StaleReadError) or mysql_error_code(cause) in RETRYABLE_CONFLICTS


def retry_on_lock_conflict(
    work: Callable[[], T],
    *,
    attempts: int = 8,
    base_delay: float = 0.02,
    max_delay: float = 1.0,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run ``work`` (a whole transaction) again after it lost a conflict
    (:func:`is_lock_conflict`), with exponential backoff and full jitter, at most
    ``attempts`` times; then raise :class:`ConflictRetryExhaustedError`.

    InnoDB rolls back the victim of a deadlock and Galera the loser of a
    certification, so re-running the complete unit of work is the documented
    remedy. The jitter keeps two losers from meeting again at the same instant.
    Any other error propagates at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if not is_lock_conflict(exc) or isinstance(exc, ConflictRetryExhaustedError):
                raise
            if attempt == attempts:
                code = mysql_error_code(root_cause(exc))
                what = f"MySQL error {code}" if code else "concurrent change"
                raise ConflictRetryExhaustedError(
                    f"gave up after {attempts} attempts lost a conflict with other writers "
                    f"({what}); nothing was changed, try again",
                    attempts=attempts,
                ) from exc
            if on_retry is not None:
                on_retry(attempt, exc)
            ceiling = min(max_delay, base_delay * (2 ** (attempt - 1)))
            time.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))
    raise AssertionError("unreachable")


def is_connection_error(exc: BaseException) -> bool:
    """True when the server is unreachable or the connection was lost."""
    return mysql_error_code(exc) in CONNECTION_ERRORS


def translate_connect_error(exc: DBAPIError, url: str | URL | None) -> DatabaseUnavailableError:
    """Turn a driver error on connect into a one-line, password-free message."""
    code = mysql_error_code(exc)
    # Show the URL as the user wrote it: without the driver options we added (charset).
    where = mask_url(make_url(url).set(query={}) if url is not None else None)
    if code == ER_ACCESS_DENIED:
        return DatabaseUnavailableError(f"access denied to {where}: check user and password")
    if code == ER_DBACCESS_DENIED:
        return DatabaseUnavailableError(
            f"access denied to the database at {where}: the account has no privileges on "
            "it (GRANT them as in the README's 'Attach to an OpenEMR site')"
        )
    if code == ER_BAD_DB:
        return DatabaseUnavailableError(
            f"database does not exist at {where}: check the database name in the URL"
        )
    if code in CONNECTION_ERRORS:
        return DatabaseUnavailableError(f"cannot reach the database server at {where}")
    return DatabaseUnavailableError(f"cannot use the database at {where} (MySQL error {code})")


def describe_database_error(exc: DBAPIError, url: str | URL | None) -> str | None:
    """A one-line, password-free message for a database error a user can act on
    (privileges, a missing database, a lost server), or ``None`` for the others."""
    code = mysql_error_code(exc)
    if code in (ER_DBACCESS_DENIED, ER_ACCESS_DENIED, ER_BAD_DB) or code in CONNECTION_ERRORS:
        return str(translate_connect_error(exc, url))
    if code in PRIVILEGE_ERRORS:
        orig = getattr(exc, "orig", exc)
        args: tuple[object, ...] = tuple(getattr(orig, "args", ()))
        detail = str(args[1]) if len(args) > 1 else str(orig)
        detail = " ".join(detail.split())[:300]
        denied = re.match(r"(\w+(?: \w+)?) command denied", detail)
        which = f"the {denied.group(1).upper()} privilege" if denied else "a privilege"
        return (
            f"the database account lacks {which} (MySQL error {code}: {detail}); "
            "GRANT it as in the README's 'Attach to an OpenEMR site'"
        )
    return None


def connect(engine: Engine) -> Connection:
    """Open a connection, translating connection failures into our errors."""
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise translate_connect_error(exc, engine.url) from None


def table_exists(conn: Connection, name: str) -> bool:
    """Whether the table ``name`` exists in the current database."""
    return name in existing_tables(conn, [name])


def require_openemr(conn: Connection) -> None:
    """Refuse a database that lacks OpenEMR's core tables."""
    if current_database(conn) is None:
        raise NotOpenEMRError("no database selected: put the database name in the URL")
    missing = sorted(set(OPENEMR_CORE_TABLES) - existing_tables(conn, OPENEMR_CORE_TABLES))
    if missing:
        raise NotOpenEMRError(
            "this is not an OpenEMR database: missing tables " + ", ".join(missing)
        )


def non_innodb_tables(
    conn: Connection, tables: Iterable[str] = STOCK_TABLES
) -> list[tuple[str, str]]:
    """(table, engine) of the listed tables and of every module table that are not
    InnoDB (views and missing tables are not listed)."""
    return [(name, engine) for name, engine in table_engines(conn, tables)
            if engine.lower() != "innodb"]


def require_innodb(conn: Connection, tables: Iterable[str] = STOCK_TABLES) -> None:
    """Refuse to move stock when a table we lock or rely on ignores transactions
    (MyISAM...)."""
    bad = [f"{name} ({engine})" for name, engine in non_innodb_tables(conn, tables)]
    if bad:
        raise UnsupportedEngineError(
            "tables the module locks or relies on must be InnoDB for transactions and row "
            "locks; convert with "
            "ALTER TABLE ... ENGINE=InnoDB: " + ", ".join(bad)
        )


def execute_raw(conn: Connection, sql: str) -> int:
    """Run one statement exactly as written (no placeholders, so ``%`` in a trigger
    body or a comment is kept); returns the rowcount. Driver errors propagate as
    SQLAlchemy ``DBAPIError`` like any other statement."""
    try:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            return int(cursor.rowcount)
        finally:
            cursor.close()
    except DBAPIError:
        raise
    except Exception as exc:  # a PyMySQL error: wrap it the way SQLAlchemy does
        if getattr(exc, "args", None) and isinstance(exc.args[0], int):
            raise DBAPIError(sql, None, exc) from exc
        raise
