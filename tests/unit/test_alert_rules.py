"""Pure alert rules and the once-per-state decision (no database)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aesthetic_inventory.alerts.rules import (
    EXPIRED,
    EXPIRING,
    LOW_STOCK,
    OUT_OF_STOCK,
    SHORTAGE,
    AlertItem,
    LotRow,
    ShortageRow,
    StockLevel,
    StoredState,
    backoff_seconds,
    decide,
    decide_changes,
    expiry_items,
    group_by_kind,
    low_stock_items,
    shortage_items,
)

TODAY = date(2026, 3, 10)
NOW = datetime(2026, 3, 10, 8, 0, 0)


def lot(inventory_id: int, expiration: date, on_hand: int = 5) -> LotRow:
    return LotRow(inventory_id, 1, "Botox", f"L{inventory_id}", "On Site", on_hand, expiration, 2)


def test_low_stock_classifies_out_low_and_healthy() -> None:
    items = low_stock_items(
        [
            StockLevel(1, "Empty", 5, 0),
            StockLevel(2, "Low", 5, 5),
            StockLevel(3, "Healthy", 5, 6),
            StockLevel(4, "No reorder point", 0, 0),
        ]
    )
    assert [(i.kind, i.item_key) for i in items] == [(OUT_OF_STOCK, "1"), (LOW_STOCK, "2")]
    assert items[1].on_hand == 5 and items[1].reorder_point == 5


def test_expiry_boundaries() -> None:
    items = expiry_items(
        [
            lot(1, TODAY),  # expires today: not sellable (OpenEMR skips expiration <= sale date)
            lot(2, TODAY - timedelta(days=3)),
            lot(3, TODAY + timedelta(days=1)),
            lot(4, TODAY + timedelta(days=30)),
            lot(5, TODAY + timedelta(days=31)),  # beyond the horizon
            lot(6, TODAY + timedelta(days=2), on_hand=0),  # nothing on hand
        ],
        today=TODAY,
        horizon_days=30,
    )
    kinds = {i.item_key: (i.kind, i.days_left) for i in items}
    assert kinds == {
        "1": (EXPIRED, 0),
        "2": (EXPIRED, -3),
        "3": (EXPIRING, 1),
        "4": (EXPIRING, 30),
    }


def test_shortage_items_skip_filled() -> None:
    items = shortage_items(
        [ShortageRow(7, 70, 3, 1, "Filler", "CPT4 11950", 2), ShortageRow(8, 80, 3, 1, "F", "", 0)]
    )
    assert [(i.kind, i.item_key) for i in items] == [(SHORTAGE, "7-70-3")]
    assert "2 unit(s)" in items[0].detail


def item(kind: str = LOW_STOCK, key: str = "1") -> AlertItem:
    return AlertItem(kind=kind, item_key=key, drug_id=1, product="Botox")


def test_decide_new_quiet_reminder_and_resolved() -> None:
    reminder = timedelta(hours=24)
    states = {
        (LOW_STOCK, "1"): StoredState(LOW_STOCK, "1", "open", NOW - timedelta(hours=2)),
        (LOW_STOCK, "2"): StoredState(LOW_STOCK, "2", "open", NOW - timedelta(hours=25)),
        (LOW_STOCK, "3"): StoredState(LOW_STOCK, "3", "open", NOW - timedelta(hours=1)),
    }
    decision = decide(
        [item(key="1"), item(key="2"), item(key="4")], states, now=NOW, reminder=reminder
    )
    assert {i.item_key for i in decision.notify} == {"2", "4"}
    assert decision.new_keys == {(LOW_STOCK, "4")}
    assert decision.reminder_keys == {(LOW_STOCK, "2")}
    assert [i.item_key for i in decision.quiet] == ["1"]
    assert decision.resolved_keys == {(LOW_STOCK, "3")}


def test_decide_changes_matches_decide_and_counts_quiet_items() -> None:
    """The SQL diff hands over only new/due items and states to resolve; the
    decision (and the current count) must equal the full-list decision."""
    reminder = timedelta(hours=24)
    states = {
        (LOW_STOCK, "1"): StoredState(LOW_STOCK, "1", "open", NOW - timedelta(hours=2)),
        (LOW_STOCK, "2"): StoredState(LOW_STOCK, "2", "open", NOW - timedelta(hours=25)),
        (LOW_STOCK, "3"): StoredState(LOW_STOCK, "3", "open", NOW - timedelta(hours=1)),
        (LOW_STOCK, "5"): StoredState(LOW_STOCK, "5", "open", NOW - timedelta(hours=30)),
        (LOW_STOCK, "6"): StoredState(LOW_STOCK, "6", "resolved", NOW - timedelta(hours=1)),
    }
    current = [item(key="1"), item(key="2"), item(key="4"), item(key="6")]
    full = decide(current, states, now=NOW, reminder=reminder)
    due = NOW - reminder
    recent_open = sum(
        1 for s in states.values() if s.state == "open" and s.last_notified > due
    )
    changes = decide_changes(
        [(i, states.get(i.state_key)) for i in current if i.item_key != "1"],  # "1" is quiet
        [states[(LOW_STOCK, "3")], states[(LOW_STOCK, "5")]],
        now=NOW,
        reminder=reminder,
        quiet_recent=recent_open,
    )
    assert changes.notify == full.notify
    assert changes.new_keys == full.new_keys == {(LOW_STOCK, "4"), (LOW_STOCK, "6")}
    assert changes.reminder_keys == full.reminder_keys == {(LOW_STOCK, "2")}
    assert changes.resolved_keys == full.resolved_keys
    assert changes.quiet == ()  # quiet items never left the database
    assert changes.current == full.current == 4  # 3 notified + 1 quiet


def test_state_change_is_a_new_alert() -> None:
    states = {(LOW_STOCK, "1"): StoredState(LOW_STOCK, "1", "open", NOW)}
    decision = decide([item(OUT_OF_STOCK, "1")], states, now=NOW, reminder=timedelta(days=1))
    assert decision.new_keys == {(OUT_OF_STOCK, "1")}
    assert decision.resolved_keys == {(LOW_STOCK, "1")}


def test_grouping_orders_by_urgency() -> None:
    sections = group_by_kind([item(EXPIRING, "9"), item(OUT_OF_STOCK, "1"), item(LOW_STOCK, "2")])
    assert [kind for kind, _title, _items in sections] == [OUT_OF_STOCK, LOW_STOCK, EXPIRING]


def test_backoff_is_exponential_and_capped() -> None:
    assert [backoff_seconds(n, base=60, cap=600) for n in range(0, 6)] == [
        0,
        60,
        120,
        240,
        480,
        600,
    ]
