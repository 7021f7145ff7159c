"""OpenEMR's login rules as pure functions: who may sign in, when a user is locked out.

``AuthUtils`` refuses inactive users and users whose ``users_secure.login_fail_counter``
has reached the global ``password_max_failed_logins`` (0 = no limit), unless
``time_reset_password_max_failed_logins`` (seconds, 0 = never) has passed since
``last_login_fail``, in which case the counter is reset and the user may try again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class LockoutPolicy:
    """The two OpenEMR globals (defaults as OpenEMR ships them)."""

    max_failed: int = 20
    reset_seconds: int = 3600


@dataclass(frozen=True)
class LoginRecord:
    """One user's sign-in facts from ``users`` and ``users_secure``."""

    user_id: int
    username: str
    password_hash: str | None
    active: bool
    fail_counter: int
    seconds_since_last_fail: int | None


class LockState(Enum):
    OPEN = "open"
    LOCKED = "locked"
    EXPIRED_LOCK = "expired"  # was locked, the reset window passed: reset then allow


def lock_state(record: LoginRecord, policy: LockoutPolicy) -> LockState:
    """Whether the failure counter blocks ``record`` (AuthUtils' rule; the age of the last
    failure is measured by the database clock, as OpenEMR's TIMESTAMPDIFF does)."""
    if policy.max_failed == 0 or record.fail_counter < policy.max_failed:
        return LockState.OPEN
    seconds = record.seconds_since_last_fail
    if policy.reset_seconds > 0 and seconds and seconds > policy.reset_seconds:
        return LockState.EXPIRED_LOCK
    return LockState.LOCKED
