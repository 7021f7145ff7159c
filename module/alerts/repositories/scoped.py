"""SQL pieces of the alert scan shared by the full and the incremental scan: the
product's package columns (alerts in packages and units), the lot scopes of an
incremental scan, and the resolution queries, each limited to a scope when given."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import BindParameter, TextClause, bindparam, text

from ...products.domain import PackageSettings

STATE_TABLE = "aesthetic_inventory_alert_state"
PACKAGE_TABLE = "aesthetic_inventory_product_stock"
# the product's package (ps: PACKAGE_TABLE LEFT JOINed on the product)
PACKAGE_COLUMNS = (
    "COALESCE(ps.units_per_package, 1), COALESCE(ps.counting_unit, ''), "
    "COALESCE(ps.package_unit, '')"
)
_STATE_COLUMNS = "s.kind, s.item_key, s.state, s.last_notified"
LOT_STATE_KINDS = ("expired", "expiring")


def sql_text(sql: str, params: dict[str, object]) -> TextClause:
    """``text(sql)`` with every list-valued parameter it names bound as an expanding
    ``IN``."""
    expanding: list[BindParameter[Any]] = [
        bindparam(k, expanding=True) for k, v in params.items()
        if isinstance(v, list) and f":{k}" in sql]
    return text(sql).bindparams(*expanding) if expanding else text(sql)


class PackageCache:
    """One :class:`PackageSettings` per distinct package, not one per row."""

    def __init__(self) -> None:
        self._seen: dict[tuple[int, str, str], PackageSettings] = {}

    def get(self, size: object, unit: object, package: object) -> PackageSettings:
        key = (int(str(size or 1)), str(unit or ""), str(package or ""))
        found = self._seen.get(key)
        if found is None:
            found = self._seen[key] = PackageSettings(
                units_per_package=key[0], counting_unit=key[1], package_unit=key[2])
        return found


@dataclass(frozen=True)
class LotScope:
    """The lots an incremental scan reads: those of some products, some lots by id,
    or those expiring in ``(a, b]`` (an index range on the expiration date). One of
    the three; an empty collection is an empty scope."""

    drug_ids: Collection[int] | None = None
    inventory_ids: Collection[int] | None = None
    expiring_between: tuple[date, date] | None = None

    def predicate(self) -> tuple[str, dict[str, object]]:
        """The extra condition on ``di`` and its parameters ('' = nothing to read)."""
        if self.drug_ids is not None:
            return (" AND di.drug_id IN :lot_drugs", {"lot_drugs": sorted(self.drug_ids)}) \
                if self.drug_ids else ("", {})
        if self.inventory_ids is not None:
            return (" AND di.inventory_id IN :lot_ids",
                    {"lot_ids": sorted(self.inventory_ids)}) if self.inventory_ids else ("", {})
        if self.expiring_between is not None:
            after, upto = self.expiring_between
            return (" AND di.expiration > :after AND di.expiration <= :upto",
                    {"after": after, "upto": upto})
        return "", {}


@dataclass(frozen=True)
class ResolveScope:
    """What the resolution queries of an incremental scan look at: the stock states
    of ``stock_drug_ids``, the lot states of the lots of ``lot_drug_ids``, of the lots
    ``lot_ids`` and of the lots expiring in ``crossed`` ``(a, b]``. The shortage and
    container families are always read whole (their tables do not grow with the
    lots)."""

    stock_drug_ids: Collection[int]
    lot_drug_ids: Collection[int]
    lot_ids: Collection[int]
    crossed: tuple[date, date] | None = None


# A lot that is current for the state row s: (di JOIN drugs dd) LEFT JOINed on this.
_LOT_CURRENT = (
    "AND di.destroy_date IS NULL AND di.on_hand > 0 AND di.expiration IS NOT NULL "
    "AND di.expiration <= :end "
    "AND s.kind = IF(di.expiration <= :today, 'expired', 'expiring')"
)
_USABLE = (
    "(SELECT COALESCE(SUM(di.on_hand), 0) FROM drug_inventory di "
    "WHERE di.drug_id = d.drug_id AND di.destroy_date IS NULL AND di.on_hand > 0 "
    "AND (di.expiration IS NULL OR di.expiration > :today))"
)


def stock_resolved_sql(only: bool) -> str:
    """Open low/out-of-stock states whose product is no longer in that state (only
    those of ``:stock_keys`` when ``only``)."""
    keys = " AND s.item_key IN :stock_keys" if only else ""
    hint = " FORCE INDEX (kind_item)" if only else ""  # a range per key, not a table scan
    return (
        f"SELECT {_STATE_COLUMNS} FROM {STATE_TABLE} s{hint} "
        "LEFT JOIN drugs d ON d.drug_id = CAST(s.item_key AS UNSIGNED) "
        "AND s.item_key = CAST(d.drug_id AS CHAR) "
        "AND d.active = 1 AND d.dispensable = 1 AND d.reorder_point > 0 "
        f"WHERE s.state = 'open' AND s.kind IN ('low_stock', 'out_of_stock'){keys} "
        "AND (d.drug_id IS NULL OR s.kind <> "
        f"CASE WHEN {_USABLE} <= 0 THEN 'out_of_stock' "
        f"WHEN {_USABLE} <= d.reorder_point THEN 'low_stock' ELSE '' END)"
    )


def lots_resolved_sql(only_keys: bool) -> str:
    """Open expired/expiring states whose lot is no longer current in that kind
    (only those of ``:lot_keys`` when ``only_keys``)."""
    keys = " AND s.item_key IN :lot_keys" if only_keys else ""
    hint = " FORCE INDEX (kind_item)" if only_keys else ""
    return (
        f"SELECT {_STATE_COLUMNS} FROM {STATE_TABLE} s{hint} "
        "LEFT JOIN (drug_inventory di JOIN drugs dd ON dd.drug_id = di.drug_id) "
        "ON di.inventory_id = CAST(s.item_key AS UNSIGNED) "
        f"AND s.item_key = CAST(di.inventory_id AS CHAR) {_LOT_CURRENT} "
        f"WHERE s.state = 'open' AND s.kind IN ('expired', 'expiring'){keys} "
        "AND di.inventory_id IS NULL"
    )


def driven_lots_resolved_sql(kind: str, lots: str) -> str:
    """Open ``kind`` (expired or expiring) states of the lots ``l`` chosen by the
    condition ``lots`` whose lot is no longer current in that kind: driven by an
    index on the lots, then one unique-key lookup per lot (one kind per query, so the
    join uses both columns of ``kind_item``)."""
    return (
        f"SELECT {_STATE_COLUMNS} FROM drug_inventory l "
        f"JOIN {STATE_TABLE} s ON s.kind = '{kind}' "
        "AND s.item_key = CAST(l.inventory_id AS CHAR) AND s.state = 'open' "
        "LEFT JOIN (drug_inventory di JOIN drugs dd ON dd.drug_id = di.drug_id) "
        f"ON di.inventory_id = l.inventory_id {_LOT_CURRENT} "
        f"WHERE {lots} AND di.inventory_id IS NULL"
    )


# The lots of changed products that can have a lot state: a state was opened for a
# lot expiring by the horizon end of its scan, never later than this scan's (a
# movement does not change an expiration; a changed horizon setting is a full scan).
_PRODUCT_LOTS = "l.drug_id IN :lot_drugs AND l.expiration <= :end"
_CROSSED_LOTS = "l.expiration > :x_after AND l.expiration <= :x_upto"


def scoped_parts(scope: ResolveScope) -> tuple[list[str], dict[str, object]]:
    """The stock and lot resolution queries of an incremental scan and their
    parameters (a part with an empty scope is left out)."""
    parts: list[str] = []
    params: dict[str, object] = {}
    if scope.stock_drug_ids:
        parts.append(stock_resolved_sql(True))
        params["stock_keys"] = sorted(str(i) for i in scope.stock_drug_ids)
    if scope.lot_drug_ids:
        parts.extend(driven_lots_resolved_sql(kind, _PRODUCT_LOTS) for kind in LOT_STATE_KINDS)
        params["lot_drugs"] = sorted(scope.lot_drug_ids)
    if scope.crossed is not None:  # expiring states of lots the day change expired
        parts.append(driven_lots_resolved_sql("expiring", _CROSSED_LOTS))
        params["x_after"], params["x_upto"] = scope.crossed
    if scope.lot_ids:
        parts.append(lots_resolved_sql(True))
        params["lot_keys"] = sorted(str(i) for i in scope.lot_ids)
    return parts, params
