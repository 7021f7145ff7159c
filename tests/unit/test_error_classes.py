"""Issue 16 item 4: each error class carries its exit code and HTTP status; the CLI's
and the web's one handler read them from the class (never from the message text)."""

from __future__ import annotations

import click
import pytest
from aesthetic_inventory import errors
from aesthetic_inventory.cli import _Group
from aesthetic_inventory.db import ConflictRetryExhaustedError
from aesthetic_inventory.errors import (
    AestheticInventoryError,
    AuthenticationError,
    ConfigurationError,
    ConfirmationRequiredError,
    CsrfError,
    DatabaseUnavailableError,
    ForbiddenError,
    InvalidInputError,
    InvalidTokenError,
    NotAuthenticatedError,
    NotFoundError,
    PermissionDeniedError,
    TooManyAttemptsError,
    UnknownVisitError,
)
from aesthetic_inventory.web import app as _web_app  # noqa: F401 - every web error class
from aesthetic_inventory.web.errors import as_module_error
from click.testing import CliRunner
from pymysql.err import OperationalError
from sqlalchemy.exc import DBAPIError


def _all(cls: type) -> list[type]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += _all(sub)
    return found


def test_every_error_class_carries_an_exit_code_and_an_http_status() -> None:
    classes = _all(AestheticInventoryError)
    assert len(classes) > 20
    for cls in classes:
        assert isinstance(cls.exit_code, int) and cls.exit_code >= 1, cls
        assert 400 <= cls.http_status <= 599, cls


@pytest.mark.parametrize(("error", "status", "message"), [
    (InvalidInputError("quantity must be >= 0"), 400, "quantity must be >= 0"),
    (NotFoundError("Procedure not found: CPT4:1"), 404, "Procedure not found: CPT4:1"),
    (UnknownVisitError("no visit"), 404, "no visit"),
    (AuthenticationError("wrong password"), 401, "invalid username or password"),
    (NotAuthenticatedError("user is no longer active"), 401, "Authentication required"),
    (InvalidTokenError("bad signature"), 401, "Authentication required"),
    (ForbiddenError("CSRF token missing or invalid"), 403, "Access Denied"),
    (CsrfError(), 403, "CSRF token missing or invalid"),
    (PermissionDeniedError("nurse may not see costs"), 403, "nurse may not see costs"),
    (TooManyAttemptsError("too many"), 429, "too many"),
    (DatabaseUnavailableError("cannot reach db at mysql://u:***@h"), 503,
     "service unavailable; see the server log"),
    (ConfigurationError("web_secret"), 503, "service unavailable; see the server log"),
])
def test_the_class_decides_status_and_what_the_client_reads(
    error: AestheticInventoryError, status: int, message: str,
) -> None:
    found = as_module_error(error)
    assert found is error
    assert (found.http_status, found.http_message()) == (status, message)


def test_database_errors_map_to_module_errors() -> None:
    lock = DBAPIError("UPDATE drug_inventory", None, OperationalError(1213, "Deadlock"))
    gone = DBAPIError("SELECT 1", None, OperationalError(2013, "Lost connection"))
    assert as_module_error(lock).http_status == 409  # type: ignore[union-attr]
    assert as_module_error(gone).http_status == 503  # type: ignore[union-attr]
    assert as_module_error(ValueError("x")) is None


class _Special(errors.AestheticInventoryError):
    exit_code = 4


def test_the_cli_exits_with_the_code_of_the_errors_class() -> None:
    @click.group(cls=_Group)
    def cli() -> None:
        pass

    @cli.command()
    def fails() -> None:
        raise _Special("the special failure")

    @cli.command()
    def bad() -> None:
        raise InvalidInputError("bad quantity")

    special = CliRunner().invoke(cli, ["fails"])
    assert special.exit_code == 4 and special.output == "Error: the special failure\n"
    plain = CliRunner().invoke(cli, ["bad"])
    assert plain.exit_code == 1 and plain.output == "Error: bad quantity\n"


def test_conflict_exhaustion_and_confirmation_carry_their_web_extras() -> None:
    """A lost-conflict error is 503 with Retry-After (issue 20); an implausible actual is
    409 with ``confirm: true`` for the client to resend (issue 17 B); others add none."""
    exhausted = ConflictRetryExhaustedError("busy", attempts=8, retry_after_seconds=3)
    assert exhausted.http_status == 503 and exhausted.http_headers() == {"Retry-After": "3"}
    confirm = ConfirmationRequiredError("actual 5000 is more than 3x the plan")
    assert confirm.http_status == 409 and confirm.http_fields() == {"confirm": True}
    assert InvalidInputError("x").http_headers() == {} == InvalidInputError("x").http_fields()
