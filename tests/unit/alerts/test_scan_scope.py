"""The pure planning of the incremental alert scan and the alert texts in packages and
units."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aesthetic_inventory.alerts.repositories.background import BackgroundServiceRepository
from aesthetic_inventory.alerts.rules import LotRow, StockLevel, expiry_items, low_stock_items
from aesthetic_inventory.alerts.scope import (
    FULL_SCAN_HOURS,
    Watermark,
    full_scan_reason,
    incremental_scope,
    scan_params,
)
from aesthetic_inventory.products.domain import PackageSettings, describe_stock, plural_noun

NOW = datetime(2026, 12, 7, 10, 0)
MARK = Watermark(date(2026, 12, 6), date(2027, 1, 5), scan_params(30), NOW - timedelta(hours=5))
TOXIN = PackageSettings(units_per_package=100, counting_unit="U", package_unit="vial")


def reason(mark: Watermark | None = MARK, *, now: datetime = NOW, params: str = scan_params(30),
           triggers: bool = True, forced: bool = False) -> str | None:
    return full_scan_reason(mark, now=now, params=params, tracked=triggers, forced=forced)


def test_incremental_only_when_exact() -> None:
    assert reason() is None
    assert reason(None) == "first scan"
    assert reason(forced=True) == "asked for"
    assert reason(triggers=False).startswith("changes not tracked")
    # the first scan after tracking came back: the mark of an untracked scan differs
    untracked = Watermark(MARK.scanned_today, MARK.horizon_end,
                          scan_params(30, tracked=False), MARK.full_at)
    assert reason(untracked) == "settings changed"
    assert reason(params=scan_params(60)) == "settings changed"
    assert reason(now=datetime(2026, 12, 5, 10, 0)) == "clock went back"
    late = NOW + timedelta(hours=FULL_SCAN_HOURS)
    assert reason(now=late) == f"last full scan over {FULL_SCAN_HOURS} h ago"


def test_scope_takes_changes_crossings_reminders_and_the_new_horizon() -> None:
    scope = incremental_scope(
        MARK, today=date(2026, 12, 7), horizon_end=date(2027, 1, 6), changed_drug_ids=[3, 4],
        crossed_drug_ids=[9],
        reminder_keys=[("low_stock", "7"), ("expiring", "120"), ("shortage", "1-2-3")],
    )
    assert scope.stock_drug_ids == {3, 4, 9, 7}
    assert scope.lot_drug_ids == {3, 4}  # a crossing or a stock reminder reads no lot
    assert scope.lot_ids == {120}
    assert scope.crossed == (date(2026, 12, 6), date(2026, 12, 7))
    assert scope.entering == (date(2027, 1, 5), date(2027, 1, 6))
    same_day = incremental_scope(MARK, today=MARK.scanned_today, horizon_end=MARK.horizon_end,
                                 changed_drug_ids=[], crossed_drug_ids=[], reminder_keys=[])
    assert same_day.crossed is None and same_day.entering is None
    assert not same_day.stock_drug_ids


def test_describe_stock_in_the_plural() -> None:
    assert describe_stock(140, TOXIN, plural=True) == "1 vial + 40 U"
    assert describe_stock(300, TOXIN, plural=True) == "3 vials"
    assert describe_stock(300, TOXIN) == "3 vial"  # products list keeps its wording
    assert describe_stock(7, PackageSettings(), plural=True) == "7"
    assert [plural_noun(n) for n in ("vial", "box", "pouch", "battery", "kits", "tray", "")] \
        == ["vials", "boxes", "pouches", "batteries", "kits", "trays", ""]


def test_alert_items_carry_packages_and_units() -> None:
    [low] = low_stock_items([StockLevel(5, "Botox", 300, 140, TOXIN)])
    assert (low.on_hand, low.reorder_point) == (140, 300)  # the numbers stay
    assert (low.on_hand_text, low.reorder_point_text, low.in_packages) == (
        "1 vial + 40 U", "3 vials", True)
    [plain] = low_stock_items([StockLevel(6, "Gauze", 50, 6)])
    assert (plain.on_hand_text, plain.reorder_point_text, plain.in_packages) == (
        "6", "50", False)
    today = date(2026, 12, 7)
    [lot] = expiry_items([LotRow(1, 5, "Botox", "B1", "On Site", 250, today, 300, TOXIN)],
                         today=today, horizon_days=30)
    assert (lot.on_hand_text, lot.reorder_point_text) == ("2 vials + 50 U", "3 vials")


def test_bridge_registration_statement_is_the_repository_s() -> None:
    assert BackgroundServiceRepository.register_bridge_statement("/library/x.php") == (
        "UPDATE background_services SET require_once = '/library/x.php' "
        "WHERE name = 'AestheticInventoryAlerts'")
    assert "'it''s'" in BackgroundServiceRepository.register_bridge_statement("it's")
