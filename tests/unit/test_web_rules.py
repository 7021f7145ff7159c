"""Pure rules of the web face: lockout, passwords, tokens, rate limit, stock status, JSON."""

from __future__ import annotations

import bcrypt
import pytest
from aesthetic_inventory.web.domain import StockStatus, stock_status
from aesthetic_inventory.web.login_policy import LockoutPolicy, LockState, LoginRecord, lock_state
from aesthetic_inventory.web.materials import materials_json, record_json
from aesthetic_inventory.web.passwords import verify_password
from aesthetic_inventory.web.ratelimit import RateLimiter
from aesthetic_inventory.web.tokens import (
    InvalidTokenError,
    Signer,
    mint_launch_token,
    verify_launch_token,
)
from argon2 import PasswordHasher


def record(counter: int, seconds: int | None) -> LoginRecord:
    return LoginRecord(1, "nurse", None, True, counter, seconds)


@pytest.mark.parametrize(("counter", "seconds", "policy", "state"), [
    (19, 5, LockoutPolicy(20, 3600), LockState.OPEN),
    (20, 5, LockoutPolicy(20, 3600), LockState.LOCKED),
    (20, 3601, LockoutPolicy(20, 3600), LockState.EXPIRED_LOCK),
    (20, 3600, LockoutPolicy(20, 3600), LockState.LOCKED),
    (50, 99999, LockoutPolicy(20, 0), LockState.LOCKED),      # 0 = never resets
    (500, 1, LockoutPolicy(0, 3600), LockState.OPEN),         # 0 = no limit
    (20, None, LockoutPolicy(20, 3600), LockState.LOCKED),
])
def test_openemr_lockout_rule(counter: int, seconds: int | None, policy: LockoutPolicy,
                              state: LockState) -> None:
    assert lock_state(record(counter, seconds), policy) is state


def _php_bcrypt(password: bytes) -> str:
    return "$2y$" + bcrypt.hashpw(password, bcrypt.gensalt(4)).decode()[4:]


def test_bcrypt_2y_like_php_password_verify() -> None:
    stored = _php_bcrypt(b"s3cret")
    assert verify_password(stored, "s3cret")
    assert not verify_password(stored, "S3cret")
    assert not verify_password("$2y$10$short", "s3cret")
    assert not verify_password(None, "s3cret")
    assert not verify_password("5f4dcc3b5aa765d61d8327deb882cf99", "password")


def test_bcrypt_reads_only_72_bytes_as_php_does() -> None:
    stored = _php_bcrypt(b"a" * 72)
    assert verify_password(stored, "a" * 72 + "anything after is ignored")


def test_argon2_hashes_verify() -> None:
    stored = PasswordHasher().hash("pässword")
    assert verify_password(stored, "pässword")
    assert not verify_password(stored, "password")


def test_launch_token_round_trip_and_refusals() -> None:
    token = mint_launch_token("k", "nurse", now=1_000_000)
    assert verify_launch_token("k", token, max_age=60, now=1_000_030).username == "nurse"
    with pytest.raises(InvalidTokenError):
        verify_launch_token("k", token, max_age=60, now=1_000_061)  # expired
    with pytest.raises(InvalidTokenError):
        verify_launch_token("other", token, max_age=60, now=1_000_001)  # forged
    with pytest.raises(InvalidTokenError):
        verify_launch_token("", token, max_age=60, now=1_000_001)  # not configured
    with pytest.raises(InvalidTokenError):
        verify_launch_token("k", "no-dot", max_age=60)


def test_session_and_token_salts_do_not_mix() -> None:
    signer = Signer("secret", session_seconds=60, token_seconds=60)
    cookie, session = signer.new_session("nurse")
    assert signer.read_session(cookie).csrf == session.csrf
    with pytest.raises(InvalidTokenError):
        signer.read_token(cookie)
    with pytest.raises(InvalidTokenError):
        signer.read_session(signer.new_token("nurse")[0])


def test_rate_limiter_window() -> None:
    limiter = RateLimiter(2, 10)
    assert [limiter.hit("k", now=t) for t in (0, 1, 2)] == [True, True, False]
    assert limiter.hit("other", now=2)
    assert limiter.hit("k", now=10.5)


@pytest.mark.parametrize(("stock", "reorder", "status"), [
    (0, 3, StockStatus.OUT_OF_STOCK), (None, 0, StockStatus.OUT_OF_STOCK),
    (3, 3, StockStatus.LOW), (4, 3, StockStatus.OK), (1, 0, StockStatus.OK),
])
def test_seed_stock_status(stock: int | None, reorder: float, status: StockStatus) -> None:
    assert stock_status(stock, reorder) is status


def test_materials_json_hides_costs_and_converts_numbers() -> None:
    view = {"pid": 1, "encounter": 2, "totalPlannedCost": "400.00", "materials": [
        {"mappingId": 7, "itemId": 3, "itemName": "Toxin", "code": "CPT4:64615",
         "plannedQuantity": "100", "actualQuantity": "64", "varianceQuantity": "-36",
         "unitPrice": "4.00", "totalPlannedCost": "400.00", "heldUnits": 64}]}
    hidden = materials_json(view, show_costs=False)
    shown = materials_json(view, show_costs=True)
    assert hidden["materials"][0]["unitPrice"] is None and hidden["totalPlannedCost"] is None
    assert shown["materials"][0]["unitPrice"] == 4.0 and shown["totalPlannedCost"] == 400.0
    m = shown["materials"][0]
    assert (m["usageId"], m["plannedQuantity"], m["actualQuantity"], m["varianceQuantity"]) == (
        7, 100.0, 64.0, -36.0)
    assert shown["materialsDeducted"] is True
    result = record_json({"materialsUpdated": 1, "stockAdjustments": [
        {"mappingId": 7, "itemName": "Toxin", "adjustment": -36, "reason": "r"}]})
    assert result["stockAdjustments"][0]["adjustment"] == -36.0
