"""Pure rules of issue 8 B/C and issue 11 item 6: expiry text comparison as PHP does it,
the lot policy (one warehouse, block days), collation-key ties, retry backoff."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from aesthetic_inventory.consumption.domain import (
    MAX_UNITS,
    Lot,
    LotPolicy,
    Requirement,
    allocate,
    date_text,
    error_summary,
    lot_is_expired,
    lot_sort_key,
    requirement_problem,
    retry_delay,
)
from aesthetic_inventory.consumption.policy import lot_policy
from aesthetic_inventory.errors import ConfigurationError
from aesthetic_inventory.settings import load_settings

SALE = date(2026, 3, 10)


def lot(inv: int, on_hand: int = 5, **kw) -> Lot:  # type: ignore[no-untyped-def]
    kw.setdefault("warehouse_id", "onsite")
    kw.setdefault("warehouse_seq", 5)
    return Lot(inv, 1, on_hand, **kw)


def req(units: int, *, warehouse: str = "", combining: bool = True) -> Requirement:
    return Requirement(9, 1, "CPT4", "X", Decimal(units), combining, True, "u", warehouse)


@pytest.mark.parametrize("expiration, expired", [
    (None, False), ("0000-00-00", True), ("2026-03-00", True), ("2026-03-10", True),
    ("2026-04-00", False), (date(2026, 3, 10), True), (date(2026, 3, 11), False),
])
def test_expiry_compares_date_text_like_php(expiration, expired) -> None:  # type: ignore[no-untyped-def]
    assert lot_is_expired(lot(1, expiration=expiration), SALE) is expired


def test_date_text_orders_zero_dates_first() -> None:
    texts = [date_text(d) for d in (date(2026, 1, 1), "0000-00-00", "2025-12-00")]
    assert sorted(texts) == ["0000-00-00", "2025-12-00", "2026-01-01"]


def test_block_days_move_the_cutoff() -> None:
    lots = [lot(1, expiration=date(2026, 3, 20)), lot(2, expiration=date(2026, 6, 1))]
    assert allocate(req(1), lots, sale_date=SALE).allocations[0].inventory_id == 1
    blocked = allocate(req(1), lots, sale_date=SALE, policy=LotPolicy(block_days_before_expiry=10))
    assert blocked.allocations[0].inventory_id == 2
    assert LotPolicy(block_days_before_expiry=10).expiry_cutoff(SALE) == date(2026, 3, 20)


def test_one_warehouse_limits_the_candidates_and_php_truthiness() -> None:
    lots = [lot(1, 1, warehouse_id="annex", warehouse_seq=50), lot(2, 5)]
    one = allocate(req(3, warehouse="annex"), lots, sale_date=SALE)
    assert (one.allocated, one.shortage) == (1, 2)
    many = allocate(req(3, warehouse="annex"), lots, sale_date=SALE,
                    policy=LotPolicy(sell_from_one_warehouse=False))
    assert (many.allocated, many.shortage) == (3, 0)
    assert LotPolicy().only_warehouse("0") is None  # PHP: "0" is falsy
    assert LotPolicy().only_warehouse("") is None
    assert LotPolicy().only_warehouse("annex") == "annex"


def test_collation_key_decides_lot_number_ties() -> None:
    # keys as a case-insensitive collation would give them: 'AB1' == 'ab1'
    a = lot(2, lot_number="ab1", lot_key=b"AB1")
    b = lot(1, lot_number="AB1", lot_key=b"AB1")
    c = lot(3, lot_number="B2", lot_key=b"B2")
    assert sorted([c, a, b], key=lot_sort_key) == [b, a, c]
    # without a server key: code point order
    plain = sorted([lot(1, lot_number="b"), lot(2, lot_number="B")], key=lot_sort_key)
    assert plain[0].inventory_id == 2


def test_retry_delay_doubles_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [5, 10, 20, 40]
    assert retry_delay(30) == 3600


def test_error_summary_is_one_line() -> None:
    assert error_summary(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert len(error_summary(RuntimeError("x" * 1000))) == 255


def test_overflowing_requirement_is_a_problem() -> None:
    assert requirement_problem(req(5)) is None
    big = Requirement(9, 1, "CPT4", "X", Decimal(MAX_UNITS) + 1)
    assert "more than" in (requirement_problem(big) or "")


@pytest.mark.parametrize("env, message", [
    ({"AESTHETIC_INVENTORY_SELL_FROM_ONE_WAREHOUSE": "maybe"}, "true or false"),
    ({"AESTHETIC_INVENTORY_BLOCK_DAYS_BEFORE_EXPIRY": "-1"}, "at least 0"),
    ({"AESTHETIC_INVENTORY_BLOCK_DAYS_BEFORE_EXPIRY": "99999999"}, "at most"),
])
def test_bad_policy_settings_are_one_line_errors(env, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match=message):
        _ = lot_policy(load_settings(environ=env))


def test_policy_settings() -> None:
    policy = lot_policy(load_settings(environ={
        "AESTHETIC_INVENTORY_SELL_FROM_ONE_WAREHOUSE": "false",
        "AESTHETIC_INVENTORY_BLOCK_DAYS_BEFORE_EXPIRY": "14"}))
    assert policy == LotPolicy(sell_from_one_warehouse=False, block_days_before_expiry=14)
    assert lot_policy(load_settings(environ={})) == LotPolicy()


def test_drain_interval_is_sub_second_and_validated() -> None:
    from aesthetic_inventory.alerts.config import load_alert_config

    env = {"AESTHETIC_INVENTORY_SERVICE_DRAIN_SECONDS": "0.25"}
    assert load_alert_config(load_settings(environ=env)).service_drain_seconds == 0.25
    assert load_alert_config(load_settings(environ={})).service_drain_seconds == 0.1
    with pytest.raises(ConfigurationError, match="SERVICE_DRAIN_SECONDS"):
        load_alert_config(load_settings(environ={
            "AESTHETIC_INVENTORY_SERVICE_DRAIN_SECONDS": "0.001"}))
