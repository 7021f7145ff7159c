"""The one error hierarchy of the library.

Everything below the CLI and the web app raises a subclass of
:class:`AestheticInventoryError`. Each class carries what it means at the edges, as
Click's exceptions carry ``exit_code``: :attr:`~AestheticInventoryError.exit_code` for
the CLI, :attr:`~AestheticInventoryError.http_status` for the web app, and
:attr:`~AestheticInventoryError.public_message` when the web must not repeat the text.
The one CLI handler (``cli/__init__.py``) and the one web handler (``web/errors.py``)
read these attributes; neither tests classes one by one. Messages must be safe to show
to a user: no passwords, no tracebacks.
"""

from __future__ import annotations

from typing import ClassVar


class AestheticInventoryError(Exception):
    """Base class: an operational failure with a user-readable one-line message.

    By default an operational failure (database down, bad configuration) is the
    server's fault, so the web answers 503 without repeating the message.
    """

    exit_code: ClassVar[int] = 1
    http_status: ClassVar[int] = 503
    public_message: ClassVar[str | None] = "service unavailable; see the server log"

    def http_message(self) -> str:
        """What the web app may tell the client."""
        return self.public_message if self.public_message is not None else str(self)

    def http_headers(self) -> dict[str, str]:
        """Headers the web answer carries (e.g. ``Retry-After``)."""
        return {}

    def http_fields(self) -> dict[str, object]:
        """Fields the web's error document carries beside seed 003's five."""
        return {}


class ConfigurationError(AestheticInventoryError):
    """A setting is missing or malformed (database URL, channel list, SMTP port...)."""


class DatabaseUnavailableError(AestheticInventoryError):
    """The database server cannot be reached or refused the credentials."""


class NotOpenEMRError(AestheticInventoryError):
    """The database is reachable but is not an OpenEMR database."""


class UnsupportedEngineError(AestheticInventoryError):
    """A stock table is not InnoDB, so transactions and row locks would be ignored."""


class MigrationError(AestheticInventoryError):
    """An upgrade file is malformed or one of its statements failed.

    Carries the file name, the 1-based line number where the statement (or
    directive) starts and the statement text, so the admin can find it.
    """

    def __init__(
        self, message: str, *, filename: str, line: int, statement: str | None = None
    ) -> None:
        self.filename = filename
        self.line = line
        self.statement = statement
        where = f"{filename}:{line}"
        text = f"{where}: {message}"
        if statement:
            one_line = " ".join(statement.split())
            if len(one_line) > 160:
                one_line = one_line[:157] + "..."
            text += f" [statement: {one_line}]"
        super().__init__(text)


class ChecksumMismatchError(AestheticInventoryError):
    """An applied upgrade file was changed after it was applied."""


class InvalidInputError(AestheticInventoryError):
    """User input is invalid: unknown visit, negative quantity, missing product..."""

    http_status = 400
    public_message = None


class NotFoundError(InvalidInputError):
    """The addressed visit, procedure, product or lot does not exist."""

    http_status = 404


class UnknownVisitError(NotFoundError):
    """No encounter exists for the given patient and encounter number."""


class ConflictError(AestheticInventoryError):
    """The request clashes with the current state (e.g. a concurrent change)."""

    http_status = 409
    public_message = None


class LockConflictError(ConflictError):
    """A deadlock or lock wait timeout outlasted the retries."""


class AuthenticationError(AestheticInventoryError):
    """Sign-in refused. The message is the same whatever the reason (no user probing)."""

    http_status = 401
    public_message = None

    def __init__(self, reason: str) -> None:
        self.reason = reason  # for logs and tests only; never sent to the client
        super().__init__("invalid username or password")


class NotAuthenticatedError(AestheticInventoryError):
    """No valid session cookie or bearer token (or the session was revoked)."""

    http_status = 401
    public_message = "Authentication required"


class InvalidTokenError(NotAuthenticatedError):
    """A cookie or token is missing, forged, expired, used before or malformed."""


class TooManyAttemptsError(AestheticInventoryError):
    """Sign-in attempts over the rate limit."""

    http_status = 429
    public_message = None


class RequestTooLargeError(InvalidInputError):
    """A request body over the configured limit (refused before authentication)."""

    http_status = 413


class ServerStartError(AestheticInventoryError):
    """The private throwaway MariaDB/MySQL server could not be started."""


class ListenError(AestheticInventoryError):
    """The web server cannot listen on the address and port asked for."""


class DeliveryError(AestheticInventoryError):
    """A notification channel failed to deliver (the outbox keeps the row)."""


class ChannelUnavailableError(DeliveryError):
    """A channel cannot deliver anything right now (server unreachable, TLS refused):
    the outbox keeps the row and tries that channel's other rows on a later pass."""


class PermissionDeniedError(AestheticInventoryError):
    """OpenEMR's access control does not allow the user to do this."""

    http_status = 403
    public_message: ClassVar[str | None] = None


class ForbiddenError(PermissionDeniedError):
    """Signed in, but OpenEMR's ACL does not allow this (the web says only that)."""

    public_message = "Access Denied"


class CsrfError(PermissionDeniedError):
    """A cookie-authenticated write without the session's CSRF token."""

    def __init__(self, message: str = "CSRF token missing or invalid") -> None:
        super().__init__(message)


class ConfirmationRequiredError(InvalidInputError):
    """Legal but implausible input (an actual far above its plan, an expired lot named
    as the one used): the same request goes through when it is explicitly confirmed
    (``--confirm`` on the CLI, ``"confirm": true`` in the API)."""

    http_status = 409

    def http_fields(self) -> dict[str, object]:
        """The client resends the request with ``"confirm": true`` to go on."""
        return {"confirm": True}
