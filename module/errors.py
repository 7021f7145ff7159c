"""The one error hierarchy of the library.

Everything below the CLI raises a subclass of :class:`AestheticInventoryError`;
only the CLI turns these into one-line messages and exit codes. Messages must be
safe to show to a user: no passwords, no tracebacks.
"""

from __future__ import annotations


class AestheticInventoryError(Exception):
    """Base class: an operational failure with a user-readable one-line message."""


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


class UnknownVisitError(InvalidInputError):
    """No encounter exists for the given patient and encounter number."""


class ServerStartError(AestheticInventoryError):
    """The private throwaway MariaDB/MySQL server could not be started."""


class DeliveryError(AestheticInventoryError):
    """A notification channel failed to deliver (the outbox keeps the row)."""


class ChannelUnavailableError(DeliveryError):
    """A channel cannot deliver anything right now (server unreachable, TLS refused):
    the outbox keeps the row and tries that channel's other rows on a later pass."""


class PermissionDeniedError(AestheticInventoryError):
    """OpenEMR's access control does not allow the user to do this."""


class ConfirmationRequiredError(InvalidInputError):
    """Legal but implausible input (an actual far above its plan, an expired lot named
    as the one used): the same request goes through when it is explicitly confirmed
    (``--confirm`` on the CLI, ``"confirm": true`` in the API)."""

    http_status = 409
