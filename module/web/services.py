"""Services of the web face: sign in, who is asking, the BOM, usable lots, today's visits.

They take a unit-of-work factory and primitives, as every service of the module does.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal

from ..acl import Grants, load_grants
from ..errors import (  # the web's errors live in the one hierarchy; re-exported here
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    NotAuthenticatedError,
    NotFoundError,
)
from ..unit_of_work import UnitOfWork
from .domain import bom_line_json, money
from .login_policy import LockState, lock_state
from .passwords import verify_password
from .repository import AuthRepository, CatalogRepository

UowFactory = Callable[[], UnitOfWork]
__all__ = ["AuthenticationError", "ConflictError", "ForbiddenError", "NotAuthenticatedError",
           "NotFoundError", "authenticate", "consumables", "current_grants", "usable_lots",
           "visits_on"]

# A real bcrypt hash of a random string: unknown users cost as much time as known ones.
_DUMMY_HASH = "$2y$10$idoZG83XwxNXHrWaXXFnW.akcHY4bJjRQ6urXoMB8vBRNQ9QDiQD2"


def authenticate(uow_factory: UowFactory, username: str, password: str) -> str:
    """Check ``username``/``password`` as OpenEMR's login does; the canonical username.

    Inactive users are refused; OpenEMR's failure counter is honoured and updated
    (a failure counts, a success resets it, an expired lock is reset first).
    """
    with uow_factory() as uow:
        repo = AuthRepository(uow.connection)
        record = repo.login_record(username)
        if record is None:
            verify_password(_DUMMY_HASH, password)
            raise AuthenticationError("unknown user")
        if not record.active:
            verify_password(_DUMMY_HASH, password)
            raise AuthenticationError("inactive user")
        state = lock_state(record, repo.lockout_policy())
        if state is LockState.LOCKED:
            repo.record_failure(record.user_id)
            uow.commit()
            raise AuthenticationError("locked")
        if not verify_password(record.password_hash, password):
            if state is LockState.EXPIRED_LOCK:
                repo.reset_failures(record.user_id)
            repo.record_failure(record.user_id)
            uow.commit()
            raise AuthenticationError("wrong password")
        if record.fail_counter:
            repo.reset_failures(record.user_id)
        uow.commit()
        return record.username


def current_grants(uow_factory: UowFactory, username: str) -> Grants:
    """The ACL grants of a signed-in user, re-read on every request (a user made
    inactive or moved to another group in OpenEMR loses access at once)."""
    with uow_factory() as uow:
        if not AuthRepository(uow.connection).is_active(username):
            raise NotAuthenticatedError("user is no longer active")
        return load_grants(uow.connection, username)


def consumables(
    uow_factory: UowFactory, code_type: str, code: str, *, show_costs: bool, today: date
) -> dict:
    """Seed 003's service BOM for one procedure code (``procedure_products``)."""
    with uow_factory() as uow:
        repo = CatalogRepository(uow.connection)
        lines = repo.bom(code_type, code, today)
    if not lines:
        raise NotFoundError(f"Procedure not found: {code_type}:{code}")
    items = [bom_line_json(line, show_costs) for line in lines]
    total = None
    if show_costs:
        known = [line.unit_cost * line.quantity for line in lines if line.unit_cost is not None]
        total = money(sum(known, Decimal(0))) if known else None
    return {
        "serviceCode": f"{code_type}:{code}",
        "codeType": code_type,
        "code": code,
        "consumables": items,
        "totalConsumableCost": total,
    }


def usable_lots(uow_factory: UowFactory, drug_id: int, *, today: date,
                username: str = "") -> dict:
    """The lots of one product a nurse may pick on the review page, in the order the
    engine takes them for ``username`` (their default warehouse first)."""
    with uow_factory() as uow:
        repo = CatalogRepository(uow.connection)
        if not repo.product_exists(drug_id):
            raise NotFoundError(f"Product not found: {drug_id}")
        return {"productId": drug_id, "lots": repo.usable_lots(drug_id, today, username)}


def visits_on(uow_factory: UowFactory, day: date) -> list[dict]:
    """The day's visits that bill at least one mapped procedure."""
    with uow_factory() as uow:
        return CatalogRepository(uow.connection).visits_on(day)
