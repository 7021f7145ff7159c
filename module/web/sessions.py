"""Server-side sessions (issue 17 E): sign-in stores a row, every request checks it,
sign-out and an administrator's revocation end it at once, in every worker process.

Services over :class:`~.session_repository.SessionRepository`; they take a unit of
work (or a factory, for the CLI) and primitives.
"""

from __future__ import annotations

from typing import Literal

from ..errors import InvalidTokenError, NotAuthenticatedError
from ..unit_of_work import UnitOfWork, UnitOfWorkFactory
from .session_repository import SessionRepository, SessionRow
from .tokens import LaunchToken, Session, Signer

Kind = Literal["cookie", "token"]


def open_session(uow: UnitOfWork, signer: Signer, username: str, kind: Kind,
                 site: str = "") -> tuple[str, Session]:
    """Sign ``username`` in on ``site`` (``uow`` is on that site's database): the cookie
    value or bearer token, and what it carries."""
    if kind == "cookie":
        value, session = signer.new_session(username, site)
        seconds = signer.session_seconds
    else:
        value, session = signer.new_token(username, site)
        seconds = signer.token_seconds
    with uow:
        repo = uow.get(SessionRepository)
        repo.purge_expired()
        repo.insert(session.id_hash, kind, username, session.csrf, seconds)
        uow.commit()
    return value, session


def check_session(uow: UnitOfWork, session: Session, kind: Kind) -> SessionRow:
    """The live row of ``session`` (read on the unit's open connection, no block of its
    own, so the request's next block shares the transaction); refused when signed out,
    revoked, expired, or the OpenEMR user is no longer active."""
    row = uow.get(SessionRepository).live(session.id_hash, kind)
    if row is None or row.username != session.username:
        raise InvalidTokenError("session ended")
    if not row.user_active:
        raise NotAuthenticatedError("user is no longer active")
    return row


def end_session(uow: UnitOfWork, session: Session) -> None:
    """Sign-out: the cookie stops working here and in every other copy of it."""
    with uow:
        uow.get(SessionRepository).revoke(session.id_hash)
        uow.commit()


def revoke_user_sessions(uow_factory: UnitOfWorkFactory, username: str) -> int:
    """End every live session and bearer token of ``username``; how many."""
    with uow_factory() as uow:
        count = uow.get(SessionRepository).revoke_user(username)
        uow.commit()
    return count


def use_launch_token(uow: UnitOfWork, token: LaunchToken, max_age: int) -> None:
    """Spend a launch token's nonce; a token used before is refused."""
    with uow:
        fresh = uow.get(SessionRepository).use_nonce(token.nonce, token.username,
                                                            max_age)
        uow.commit()
    if not fresh:
        raise InvalidTokenError("launch token already used")
