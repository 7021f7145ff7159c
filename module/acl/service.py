"""Entry points for callers: the module's grants of one OpenEMR user."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.engine import Connection

from ..unit_of_work import UnitOfWork
from .domain import ALL_PERMISSIONS, Grants, acos_of, grants_for
from .repository import AclRepository


def load_grants(connection: Connection, username: str) -> Grants:
    """The grants of ``username``, read on an open connection (inside your unit of work)."""
    user = AclRepository(connection).load(username, acos_of(ALL_PERMISSIONS))
    return grants_for(user)


def user_grants(uow_factory: Callable[[], UnitOfWork], username: str) -> Grants:
    """The grants of ``username`` in a short read-only unit of work of its own."""
    with uow_factory() as uow:
        return load_grants(uow.connection, username)
