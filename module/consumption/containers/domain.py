"""Pure container rules: which open container a draw takes from, when a new one is
opened and from which lot, the beyond-use time, what is waste. No SQL here.

A product is *counted in units* when it has a counting unit and a package size above
one (``units_per_package``): its lots' ``on_hand`` and its ``drug_sales`` rows hold
counting units, and a package opened from a lot is a container. Opening moves no
stock: each draw is a ``drug_sales`` row on the container's lot, and what is left when
the container closes is written off as waste. So a lot's *sealed* units are its
``on_hand`` minus what its open containers still hold.

The order of a draw:

* open containers of the product in the sale's warehouse first, the oldest opened
  first (then by id), while usable at the draw's time (before beyond use; a
  single-patient container only for the visit that opened it);
* then new containers, from the lots in OpenEMR's ``sellDrug`` order, each holding one
  package (or what is left sealed in the lot, if less). The caller passes the lots
  already filtered and ordered by the consumption engine's lot rules, so this package
  never depends on the engine (the engine's container step builds on it).

Drawing from an open container before sellDrug's first lot is the one deliberate
difference from OpenEMR (docs/containers.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Protocol

from ...errors import InvalidInputError

BEYOND_USE = "beyond-use"
CLOSE_REASONS: tuple[str, ...] = ("used-up", "dropped", "contaminated", "expired", "other")
DEFAULT_GRACE_HOURS = 12


class ContainerInputError(InvalidInputError):
    """A container command was given something it cannot do."""


class LotLike(Protocol):
    """What the container rules read of a lot (the engine's ``Lot`` has it)."""

    @property
    def inventory_id(self) -> int: ...
    @property
    def drug_id(self) -> int: ...
    @property
    def on_hand(self) -> int: ...
    @property
    def warehouse_id(self) -> str: ...
    @property
    def expiration(self) -> date | str | None: ...


@dataclass(frozen=True)
class PackageRule:
    """How a product is counted: its unit, package and beyond-use settings."""

    drug_id: int
    name: str = ""
    counting_unit: str = ""
    package_unit: str = ""
    package_size: int = 1
    beyond_use_hours: int | None = None
    diluent_ml: Decimal | None = None
    single_patient: bool = False

    @property
    def counted_in_units(self) -> bool:
        """Containers apply: a counting unit and a package of more than one unit."""
        return self.counting_unit != "" and self.package_size > 1

    def volume_ml(self, units: int) -> Decimal | None:
        """The reconstituted volume of ``units`` (None without a diluent)."""
        if self.diluent_ml is None or self.package_size <= 0:
            return None
        return (self.diluent_ml * units / self.package_size).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class Container:
    """One opened package (an ``aesthetic_inventory_container`` row)."""

    id: int
    drug_id: int
    inventory_id: int
    warehouse_id: str
    opened_at: datetime
    beyond_use_at: datetime | None
    units: int
    units_drawn: int = 0
    units_wasted: int = 0
    closed_at: datetime | None = None
    close_reason: str = ""
    single_patient: bool = False
    opened_pid: int = 0
    opened_encounter: int = 0

    @property
    def units_left(self) -> int:
        return self.units - self.units_drawn - self.units_wasted

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class Visit:
    """Who a draw is for: a visit (pid, encounter), or (0, 0) for stock used without a
    patient."""

    pid: int = 0
    encounter: int = 0


@dataclass(frozen=True)
class NewContainer:
    """A package to open from a lot."""

    drug_id: int
    inventory_id: int
    warehouse_id: str
    units: int
    opened_at: datetime
    beyond_use_at: datetime | None
    single_patient: bool
    visit: Visit


@dataclass(frozen=True)
class Draw:
    """Take ``units`` from an open container (``container_id``) or from the ``new``
    container listed at index ``new_index`` of the plan."""

    inventory_id: int
    units: int
    container_id: int | None = None
    new_index: int | None = None


@dataclass(frozen=True)
class DrawPlan:
    """What a need takes: draws, the containers to open, and what nothing covers."""

    draws: tuple[Draw, ...]
    opened: tuple[NewContainer, ...]
    shortage: int

    @property
    def drawn(self) -> int:
        return sum(d.units for d in self.draws)

    def units_by_lot(self) -> dict[int, int]:
        """Units per lot (one ``drug_sales`` row each), in lot order."""
        out: dict[int, int] = {}
        for d in self.draws:
            out[d.inventory_id] = out.get(d.inventory_id, 0) + d.units
        return dict(sorted(out.items()))


def _datetime(value: date | str | None) -> datetime | None:
    """A lot expiration as the first moment it is expired (sellDrug skips a lot whose
    expiration is on or before the sale date); an unreadable date is no clock."""
    if value is None or isinstance(value, str):
        return None
    return datetime.combine(value, time())


def beyond_use_time(opened_at: datetime, rule: PackageRule,
                    expiration: date | str | None) -> datetime | None:
    """Opened at + the product's beyond-use hours, or the lot's expiration if earlier;
    a single-patient container also ends with its visit's day."""
    candidates = []
    if rule.beyond_use_hours is not None:
        candidates.append(opened_at + timedelta(hours=rule.beyond_use_hours))
    expires = _datetime(expiration)
    if expires is not None:
        candidates.append(expires)
    if rule.single_patient:
        candidates.append(datetime.combine(opened_at.date() + timedelta(days=1), time()))
    return min(candidates) if candidates else None


def can_draw(container: Container, *, at: datetime, warehouse: str | None,
             visit: Visit) -> bool:
    """Whether a draw at ``at`` (the encounter's time) may take from the container."""
    if not container.is_open or container.units_left <= 0:
        return False
    if warehouse is not None and container.warehouse_id != warehouse:
        return False
    if container.beyond_use_at is not None and at >= container.beyond_use_at:
        return False
    if at < container.opened_at and at.date() != container.opened_at.date():
        return False  # a visit days before the vial was opened did not draw from it
    if container.single_patient:
        return (container.opened_pid, container.opened_encounter) == (visit.pid,
                                                                        visit.encounter)
    return True


def sealed_units(lot: LotLike, containers: Sequence[Container]) -> int:
    """What the lot holds outside its open containers (never below zero)."""
    held = sum(max(c.units_left, 0) for c in containers
               if c.is_open and c.inventory_id == lot.inventory_id)
    return max(lot.on_hand - held, 0)


def plan_draws(need: int, *, rule: PackageRule, containers: Sequence[Container],
               lots: Sequence[LotLike], at: datetime, visit: Visit,
               warehouse: str = "", prefer: frozenset[int] = frozenset()) -> DrawPlan:
    """Cover ``need`` counting units: open containers first (those in ``prefer`` first,
    then the oldest opened), then new containers from ``lots``: the candidate lots in
    sellDrug's order (the caller applies the lot rules). ``warehouse`` is the sale's
    (the user's default warehouse; '' = any): only its open containers are drawn. Never
    takes more than a container holds or a lot has sealed; the rest is the shortage."""
    if need <= 0:
        return DrawPlan((), (), 0)
    usable = sorted((c for c in containers
                     if c.drug_id == rule.drug_id
                     and can_draw(c, at=at, warehouse=warehouse or None, visit=visit)),
                    key=lambda c: (c.id not in prefer, c.opened_at, c.id))
    draws: list[Draw] = []
    left = need
    for c in usable:
        if left <= 0:
            break
        take = min(left, c.units_left)
        draws.append(Draw(c.inventory_id, take, container_id=c.id))
        left -= take
    opened: list[NewContainer] = []
    for lot in (x for x in lots if x.drug_id == rule.drug_id):
        sealed = sealed_units(lot, containers)
        while left > 0 and sealed > 0:
            units = min(rule.package_size, sealed)
            opened.append(NewContainer(
                rule.drug_id, lot.inventory_id, lot.warehouse_id, units, at,
                beyond_use_time(at, rule, lot.expiration), rule.single_patient, visit))
            take = min(left, units)
            draws.append(Draw(lot.inventory_id, take, new_index=len(opened) - 1))
            left -= take
            sealed -= units
        if left <= 0:
            break
    return DrawPlan(tuple(draws), tuple(opened), left)


def waste_due(container: Container, now: datetime, grace_hours: int) -> bool:
    """Past beyond-use plus the grace for late fee sheets: what is left is waste."""
    return (container.is_open and container.beyond_use_at is not None
            and now >= container.beyond_use_at + timedelta(hours=grace_hours))


@dataclass(frozen=True)
class ClosePlan:
    """Closing a container: ``waste`` units written off with the reason, and
    ``unaccounted`` units (left by the records but not in the vial: use nobody
    recorded) written off as a count adjustment."""

    container_id: int
    reason: str
    waste: int
    unaccounted: int


def plan_close(container: Container, *, reason: str, waste: int | None,
               lot_on_hand: int) -> ClosePlan:
    """Validate a close: an open container, a known reason, 0 <= waste <= units left.
    Without ``waste`` all that is left is waste. What the lot no longer holds (another
    screen took it) cannot be written off again, so both parts are capped by it."""
    reason = reason.strip().lower()
    if reason not in (*CLOSE_REASONS, BEYOND_USE):
        raise ContainerInputError(
            f"--reason must be one of {', '.join(CLOSE_REASONS)}, got {reason!r}")
    if not container.is_open:
        raise ContainerInputError(
            f"container {container.id} was closed at {container.closed_at:%Y-%m-%d %H:%M}")
    left = max(container.units_left, 0)
    if waste is None:
        waste = left
    if waste < 0 or waste > left:
        raise ContainerInputError(
            f"--waste must be from 0 to the {left} unit(s) left in container {container.id}, "
            f"got {waste}")
    available = max(lot_on_hand, 0)
    waste = min(waste, available)
    unaccounted = min(left - waste, available - waste)
    return ClosePlan(container.id, reason, waste, unaccounted)
