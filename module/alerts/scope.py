"""What an alert scan must look at, as pure functions (no SQL): a full scan, or only
what changed since the last scan (issue 21).

A full scan evaluates every rule over every product and lot. The incremental scan
gives exactly the same decision by evaluating the rules only where the result can
differ from what the last scan left in the alert state:

* products whose stock or settings changed (rows the triggers of
  :mod:`aesthetic_inventory.alerts.triggers` wrote since the last scan), and products
  with a lot destroyed on or after the last scan's day (an index range: OpenEMR's
  *Destroy Lot* screen writes no movement);
* time passing without a write: lots whose expiration the day change crossed
  (expiring -> expired) and their product's stock level, read by an index range
  ``(last day, today]``, and lots entering the expiry horizon, ``(last horizon end,
  horizon end]``;
* open states due for a reminder (an index range on ``last_notified``);
* the shortage and container rules and the kinds no rule produces, always whole
  (their tables do not grow with the lots).

A full scan runs instead when there is no watermark yet, the expiry horizon setting
changed, the clock went back, changes are not tracked (the alert triggers or the
change table missing: sweep mode) or were not at the last scan, it is asked for
(``alerts run --full``) or the last full scan is older than :data:`FULL_SCAN_HOURS`:
that catches what no trigger sees (a lot edited without a movement, see
:mod:`aesthetic_inventory.alerts.triggers`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

FULL_SCAN_HOURS = 24
# bump when the rules change what a full scan finds: the next scan is then full
RULES_VERSION = "1"
STOCK_KINDS = frozenset({"low_stock", "out_of_stock"})
LOT_KINDS = frozenset({"expired", "expiring"})


@dataclass(frozen=True)
class Watermark:
    """What the last (non-dry) scan covered."""

    scanned_today: date
    horizon_end: date
    params: str
    full_at: datetime


@dataclass(frozen=True)
class IncrementalScope:
    """The products and lots an incremental scan evaluates."""

    stock_drug_ids: frozenset[int]  # stock-level rule and stock states
    lot_drug_ids: frozenset[int]  # the lots of these products (their stock changed)
    lot_ids: frozenset[int]  # these lots (reminders)
    crossed: tuple[date, date] | None  # lots expiring in (a, b]: the day change expired them
    entering: tuple[date, date] | None  # lots expiring in (a, b]: now within the horizon


def scan_params(horizon_days: int, *, tracked: bool = True) -> str:
    """The settings that change what a full scan finds, as stored in the watermark, and
    whether changes were tracked (a scan made while they were not leaves a mark that
    makes the first scan after the triggers are back a full one: a change made before
    they came back has no change row)."""
    untracked = "" if tracked else ";untracked"
    return f"rules={RULES_VERSION};horizon_days={horizon_days}{untracked}"


def full_scan_reason(
    watermark: Watermark | None, *, now: datetime, params: str, tracked: bool, forced: bool,
) -> str | None:
    """Why this scan must be full, or None when an incremental scan is exact
    (``tracked``: the alert triggers and the change table are there)."""
    if forced:
        return "asked for"
    if watermark is None:
        return "first scan"
    if not tracked:
        return "changes not tracked (alert triggers or change table missing)"
    if watermark.params != params:
        return "settings changed"
    if now.date() < watermark.scanned_today or now < watermark.full_at:
        return "clock went back"
    if now - watermark.full_at >= timedelta(hours=FULL_SCAN_HOURS):
        return f"last full scan over {FULL_SCAN_HOURS} h ago"
    return None


def incremental_scope(
    watermark: Watermark,
    *,
    today: date,
    horizon_end: date,
    changed_drug_ids: Iterable[int],
    crossed_drug_ids: Iterable[int],
    reminder_keys: Iterable[tuple[str, str]],
) -> IncrementalScope:
    """The scope from what changed: the lots and stock level of changed products; the
    stock level of products with a lot the day change expired, and those lots (an
    expiration range); the lots entering the horizon (a range); states due for a
    reminder (their own item)."""
    changed = frozenset(changed_drug_ids)
    stock = set(changed) | set(crossed_drug_ids)
    lots: set[int] = set()
    for kind, key in reminder_keys:
        if not key.isdigit():
            continue
        if kind in STOCK_KINDS:
            stock.add(int(key))
        elif kind in LOT_KINDS:
            lots.add(int(key))
    crossed = (watermark.scanned_today, today) if today > watermark.scanned_today else None
    entering = ((watermark.horizon_end, horizon_end) if horizon_end > watermark.horizon_end
                else None)
    return IncrementalScope(frozenset(stock), changed, frozenset(lots), crossed, entering)
