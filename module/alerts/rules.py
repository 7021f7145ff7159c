"""Alert rules and the once-per-state decision, as pure functions (no SQL).

The repository fetches candidate rows with one set-based query per rule; the
functions here classify them into :class:`AlertItem` values and decide, from the
stored alert states, which items are worth a notification now.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

from ..products.domain import PackageSettings, describe_stock

# a product counted as OpenEMR counts (no package size): numbers print as they are
NO_PACKAGE = PackageSettings()

LOW_STOCK = "low_stock"
OUT_OF_STOCK = "out_of_stock"
EXPIRING = "expiring"
EXPIRED = "expired"
SHORTAGE = "shortage"
CONTAINER = "container"  # an open vial reaching its beyond-use time (module/containers)

# Order of the digest sections: the most urgent first.
KIND_ORDER: tuple[str, ...] = (OUT_OF_STOCK, EXPIRED, SHORTAGE, CONTAINER, LOW_STOCK,
                               EXPIRING)
KIND_TITLES: Mapping[str, str] = {
    CONTAINER: "Open containers reaching beyond-use (units left)",
    OUT_OF_STOCK: "Out of stock",
    EXPIRED: "Expired lots still on hand",
    SHORTAGE: "Unfilled consumption (shortages)",
    LOW_STOCK: "Low stock (at or below reorder point)",
    EXPIRING: "Lots expiring soon",
}


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One active product with a reorder point and its usable stock."""

    drug_id: int
    product: str
    reorder_point: float
    usable_on_hand: int
    package: PackageSettings = NO_PACKAGE


@dataclass(frozen=True, slots=True)
class LotRow:
    """One lot with stock and an expiration date (or the text of a zero or invalid date
    such as ``'0000-00-00'``, which OpenEMR stores under an empty ``sql_mode``)."""

    inventory_id: int
    drug_id: int
    product: str
    lot_number: str
    warehouse: str
    on_hand: int
    expiration: date | str
    reorder_point: float
    package: PackageSettings = NO_PACKAGE


@dataclass(frozen=True, slots=True)
class ShortageRow:
    """An open shortage recorded by the consumption engine for one visit and mapping."""

    pid: int
    encounter: int
    mapping_id: int
    drug_id: int
    product: str
    code: str
    shortage_units: float


@dataclass(frozen=True, slots=True)  # slots: a first scan of a large clinic holds ~30k
class AlertItem:
    """Something that deserves attention; ``(kind, item_key)`` identifies its state."""

    kind: str
    item_key: str
    drug_id: int
    product: str
    inventory_id: int | None = None
    lot_number: str = ""
    warehouse: str = ""
    on_hand: float | None = None
    reorder_point: float | None = None
    expiration: date | None = None
    days_left: int | None = None
    detail: str = ""
    # the numbers in packages and counting units ("1 vial + 40 U", "3 vials") for a
    # product with a package size; for any other product the numbers as text
    on_hand_text: str = ""
    reorder_point_text: str = ""
    in_packages: bool = False

    @property
    def state_key(self) -> tuple[str, str]:
        return (self.kind, self.item_key)


@dataclass(frozen=True, slots=True)
class StoredState:
    """The alert-state row of one item as last written."""

    kind: str
    item_key: str
    state: str
    last_notified: datetime | None


@dataclass(frozen=True)
class Decision:
    """What a scan does: items to notify (new or reminder), items still quiet,
    and open states whose condition has gone away."""

    notify: tuple[AlertItem, ...]
    new_keys: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    reminder_keys: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    quiet: tuple[AlertItem, ...] = ()
    resolved_keys: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    quiet_count: int = 0

    @property
    def current(self) -> int:
        """How many items are alerting now (notified or quiet)."""
        return len(self.notify) + self.quiet_count


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def stock_texts(
    on_hand: float, reorder_point: float, package: PackageSettings
) -> tuple[str, str, bool]:
    """``(on hand, reorder point, in packages?)`` as the digest prints them: in
    packages and units (:func:`describe_stock`, packages in the plural) for a product
    counted in units, else the plain numbers."""
    numbers = (on_hand, reorder_point)
    if not package.counted_in_units or not all(float(n).is_integer() for n in numbers):
        return str(_number(on_hand)), str(_number(reorder_point)), False
    return (describe_stock(int(on_hand), package, plural=True),
            describe_stock(int(reorder_point), package, plural=True), True)


def low_stock_items(levels: Iterable[StockLevel]) -> list[AlertItem]:
    """Out of stock at zero usable units, low stock at or below the reorder point."""
    items: list[AlertItem] = []
    for level in levels:
        if level.reorder_point <= 0 or level.usable_on_hand > level.reorder_point:
            continue
        kind = OUT_OF_STOCK if level.usable_on_hand <= 0 else LOW_STOCK
        on_hand = max(level.usable_on_hand, 0)
        on_text, reorder_text, packaged = stock_texts(on_hand, level.reorder_point,
                                                      level.package)
        items.append(
            AlertItem(
                kind=kind,
                item_key=str(level.drug_id),
                drug_id=level.drug_id,
                product=level.product,
                on_hand=on_hand,
                reorder_point=_number(level.reorder_point),
                on_hand_text=on_text,
                reorder_point_text=reorder_text,
                in_packages=packaged,
            )
        )
    return items


def lot_expiry_kind(expiration: date | str, *, today: date, horizon_end: date) -> str | None:
    """EXPIRED, EXPIRING or None. Dates compare as their ``YYYY-MM-DD`` text, as
    OpenEMR's ``sellDrug`` compares them in PHP: a zero date ``'0000-00-00'`` is
    expired, a partial one (``'2027-05-00'``) sorts just before the month it names."""
    text = expiration if isinstance(expiration, str) else expiration.isoformat()
    if text <= today.isoformat():
        return EXPIRED
    if text <= horizon_end.isoformat():
        return EXPIRING
    return None


def expiry_items(lots: Iterable[LotRow], *, today: date, horizon_days: int) -> list[AlertItem]:
    """Expired lots still on hand (expiration on or before today, like OpenEMR's
    ``sellDrug`` which skips them) and lots expiring within the horizon."""
    items: list[AlertItem] = []
    horizon_end = today + timedelta(days=horizon_days)
    for lot in lots:
        if lot.on_hand <= 0:
            continue
        kind = lot_expiry_kind(lot.expiration, today=today, horizon_end=horizon_end)
        if kind is None:
            continue
        valid = isinstance(lot.expiration, date)
        on_text, reorder_text, packaged = stock_texts(lot.on_hand, lot.reorder_point,
                                                      lot.package)
        items.append(
            AlertItem(
                kind=kind,
                item_key=str(lot.inventory_id),
                drug_id=lot.drug_id,
                product=lot.product,
                inventory_id=lot.inventory_id,
                lot_number=lot.lot_number,
                warehouse=lot.warehouse,
                on_hand=lot.on_hand,
                reorder_point=_number(lot.reorder_point),
                expiration=lot.expiration if isinstance(lot.expiration, date) else None,
                days_left=(lot.expiration - today).days if isinstance(lot.expiration, date)
                else None,
                detail="" if valid else f"invalid expiration date {lot.expiration}",
                on_hand_text=on_text,
                reorder_point_text=reorder_text,
                in_packages=packaged,
            )
        )
    return items


def shortage_items(rows: Iterable[ShortageRow]) -> list[AlertItem]:
    """One item per visit and mapping with an unfilled requirement."""
    return [
        AlertItem(
            kind=SHORTAGE,
            item_key=f"{row.pid}-{row.encounter}-{row.mapping_id}",
            drug_id=row.drug_id,
            product=row.product,
            on_hand=_number(row.shortage_units),
            detail=f"patient {row.pid}, encounter {row.encounter}, code {row.code}: "
            f"{_number(row.shortage_units)} unit(s) not taken from stock",
        )
        for row in rows
        if row.shortage_units > 0
    ]


@dataclass(frozen=True, slots=True)
class ContainerRow:
    """An open container with units left whose beyond-use time is near (or past)."""

    container_id: int
    drug_id: int
    product: str
    unit: str
    lot_number: str
    warehouse: str
    units_left: int
    beyond_use_at: datetime


def container_items(rows: Iterable[ContainerRow], *, now: datetime) -> list[AlertItem]:
    """One item per open container reaching beyond-use with units left: use them or
    they become waste."""
    items = []
    for row in rows:
        if row.units_left <= 0:
            continue
        hours = (row.beyond_use_at - now).total_seconds() / 3600
        when = (f"{hours:.1f} h left" if hours > 0
                else f"past beyond-use by {-hours:.1f} h (written off after the grace period)")
        items.append(AlertItem(
            kind=CONTAINER, item_key=str(row.container_id), drug_id=row.drug_id,
            product=row.product, lot_number=row.lot_number, warehouse=row.warehouse,
            on_hand=row.units_left,
            detail=f"container {row.container_id}: {row.units_left} {row.unit or 'unit(s)'} "
            f"left, beyond use at {row.beyond_use_at:%Y-%m-%d %H:%M} ({when})"))
    return items


def classify(
    state: StoredState | None, *, now: datetime, reminder: timedelta
) -> str:
    """``"new"``, ``"reminder"`` or ``"quiet"`` for a current item with this stored state.

    Once per state: an item is new when it enters a state, and due again only
    when its last notification is at least ``reminder`` old.
    """
    if state is None or state.state != "open" or state.last_notified is None:
        return "new"
    if now - state.last_notified >= reminder:
        return "reminder"
    return "quiet"


def decide(
    items: Sequence[AlertItem],
    states: Mapping[tuple[str, str], StoredState],
    *,
    now: datetime,
    reminder: timedelta,
) -> Decision:
    """The decision from every current item and every stored state. Open states
    no longer present are resolved, so the item alerts again if the condition
    comes back."""
    decision = decide_changes(
        ((item, states.get(item.state_key)) for item in items),
        (),
        now=now,
        reminder=reminder,
    )
    current = {item.state_key for item in items}
    resolved = frozenset(
        key for key, state in states.items() if state.state == "open" and key not in current
    )
    return replace(decision, resolved_keys=resolved)


def decide_changes(
    candidates: Iterable[tuple[AlertItem, StoredState | None]],
    resolved: Iterable[StoredState],
    *,
    now: datetime,
    reminder: timedelta,
    quiet_recent: int = 0,
) -> Decision:
    """The decision from what changed only (the scan's set-based diff).

    ``candidates`` are current items the repository found new or due (with their
    stored state); they are re-classified here, so the rule stays in one place.
    ``resolved`` are open states whose condition went away. ``quiet_recent`` is
    the number of open states notified within the reminder interval: all of them
    are quiet current items except those being resolved, which gives the count
    of quiet items without moving them out of the database.
    """
    notify: list[AlertItem] = []
    quiet: list[AlertItem] = []
    new_keys: set[tuple[str, str]] = set()
    reminder_keys: set[tuple[str, str]] = set()
    for item, state in candidates:
        verdict = classify(state, now=now, reminder=reminder)
        if verdict == "new":
            notify.append(item)
            new_keys.add(item.state_key)
        elif verdict == "reminder":
            notify.append(item)
            reminder_keys.add(item.state_key)
        else:
            quiet.append(item)
    resolved_keys: set[tuple[str, str]] = set()
    resolved_recent = 0
    for state in resolved:
        resolved_keys.add((state.kind, state.item_key))
        if classify(state, now=now, reminder=reminder) == "quiet":
            resolved_recent += 1
    return Decision(
        notify=tuple(sort_items(notify)),
        new_keys=frozenset(new_keys),
        reminder_keys=frozenset(reminder_keys),
        quiet=tuple(quiet),
        resolved_keys=frozenset(resolved_keys),
        quiet_count=len(quiet) + max(quiet_recent - resolved_recent, 0),
    )


def sort_items(items: Iterable[AlertItem]) -> list[AlertItem]:
    """Digest order: by kind urgency, then product, expiry and lot."""
    rank = {kind: index for index, kind in enumerate(KIND_ORDER)}
    return sorted(
        items,
        key=lambda i: (
            rank.get(i.kind, 99),
            i.product.lower(),
            i.expiration or date.max,
            i.lot_number,
            i.item_key,
        ),
    )


def group_by_kind(items: Iterable[AlertItem]) -> list[tuple[str, str, list[AlertItem]]]:
    """``(kind, title, items)`` sections in digest order, empty kinds left out."""
    grouped: dict[str, list[AlertItem]] = {}
    for item in sort_items(items):
        grouped.setdefault(item.kind, []).append(item)
    return [
        (kind, KIND_TITLES.get(kind, kind), grouped[kind]) for kind in KIND_ORDER if kind in grouped
    ]


def backoff_seconds(attempts: int, *, base: int, cap: int) -> int:
    """Exponential backoff after ``attempts`` failures: base, 2*base, 4*base... capped."""
    if attempts <= 0:
        return 0
    return int(min(cap, base * (2 ** min(attempts - 1, 30))))
