"""The SQL of the alert scan: the scan lock, the rule queries (one per rule, diffed
against the alert state), the alert state itself and OpenEMR's ``last_notify``."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ...db import ER_DUP_ENTRY, StaleReadError, mysql_error_code
from ..rules import (
    AlertItem,
    ContainerRow,
    LotRow,
    ShortageRow,
    StockLevel,
    StoredState,
    lot_expiry_kind,
)
from .scoped import (
    PACKAGE_COLUMNS,
    PACKAGE_TABLE,
    STATE_TABLE,
    LotScope,
    PackageCache,
    ResolveScope,
    lots_resolved_sql,
    scoped_parts,
    sql_text,
    stock_resolved_sql,
)

USAGE_TABLE = "aesthetic_inventory_usage"
CONTAINER_TABLE = "aesthetic_inventory_container"
# what a container's draw rows hold (module/containers/repository.py keeps the same)
DRAWN = ("(SELECT COALESCE(SUM(x.units), 0) FROM aesthetic_inventory_container_draw x "
         "WHERE x.container_id = c.id)")
LOCKS_TABLE = "aesthetic_inventory_locks"
SCAN_LOCK = "alert_scan"


class AlertStateRepository:
    """Rule queries and the alert state, on one connection (inside the caller's
    transaction)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    # -- scan serialisation ------------------------------------------------------
    def lock_scan(self) -> None:
        """Lock the scan's row in ``aesthetic_inventory_locks`` for this transaction,
        so two scans on this server decide one after the other (the second reads
        what the first committed). A row lock, not ``GET_LOCK``: it ends with the
        transaction, and :meth:`stamp_scan` makes it count across cluster nodes."""
        statement = text(f"SELECT holder FROM {LOCKS_TABLE} WHERE name = :name FOR UPDATE")
        if self.conn.execute(statement, {"name": SCAN_LOCK}).first() is None:
            # a database migrated before the row existed: create it once
            self.conn.execute(
                text(f"INSERT IGNORE INTO {LOCKS_TABLE} (name, holder) VALUES (:name, '')"),
                {"name": SCAN_LOCK},
            )
            self.conn.execute(statement, {"name": SCAN_LOCK}).first()

    def stamp_scan(self, holder: str, now: datetime) -> None:
        """Write the lock row in the scan's transaction: a row lock is local to one
        Galera node, but this write is certified with the scan's writes, so of two
        scans that decided at once on two nodes only one commits."""
        self.conn.execute(
            text(
                f"UPDATE {LOCKS_TABLE} SET holder = :holder, acquired_at = :now "
                "WHERE name = :name"
            ),
            {"holder": holder[:255], "now": now, "name": SCAN_LOCK},
        )

    # -- rule queries: one set-based query each, diffed against the alert state ----
    #
    # Each rule query LEFT JOINs the alert-state row of its item and returns only
    # items that are new or due for a reminder (``last_notified <= :due``), with
    # that state; a steady-state scan moves no quiet item to Python. The kind and
    # key expressions mirror ``rules.py`` (which re-classifies every returned row)
    # and the keys ``AlertItem.item_key`` writes, so the join uses ``kind_item``.
    _DUE = (
        " AND (s.id IS NULL OR s.state <> 'open' OR s.last_notified IS NULL "
        "OR s.last_notified <= :due)"
    )

    def _stream(self, sql: str, params: dict[str, object]) -> Iterable[Sequence[Any]]:
        """Rows one at a time (unbuffered cursor): a large first scan never holds
        the driver's copy of every row next to the items built from them. The
        caller reads each stream to its end before the next statement."""
        return self.conn.execution_options(stream_results=True).execute(
            sql_text(sql, params), params)

    @staticmethod
    def _state(kind: str, key: str, row: Sequence[object]) -> StoredState | None:
        """The stored state from the two trailing columns (None when absent)."""
        if row[-2] is None:
            return None
        last = row[-1]
        return StoredState(kind, key, str(row[-2]), last if isinstance(last, datetime) else None)

    def stock_levels_to_notify(
        self, today: date, due: datetime, *, drug_ids: Collection[int] | None = None
    ) -> Iterator[tuple[StockLevel, StoredState | None]]:
        """Active, dispensable products with a reorder point whose usable stock
        (lots not destroyed, not expired) is at or below it, and that are new or
        due for a reminder; only the products ``drug_ids`` when given (the
        incremental scan: an index read per product)."""
        if drug_ids is not None and not drug_ids:
            return
        only = " AND d.drug_id IN :ids" if drug_ids is not None else ""
        rows = self._stream(
            (
                "SELECT lv.drug_id, lv.name, lv.reorder_point, lv.usable, "
                f"{PACKAGE_COLUMNS}, s.state, s.last_notified FROM ("
                "SELECT d.drug_id, d.name, d.reorder_point, "
                "COALESCE(SUM(di.on_hand), 0) AS usable "
                "FROM drugs d LEFT JOIN drug_inventory di ON di.drug_id = d.drug_id "
                "AND di.destroy_date IS NULL AND di.on_hand > 0 "
                "AND (di.expiration IS NULL OR di.expiration > :today) "
                f"WHERE d.active = 1 AND d.dispensable = 1 AND d.reorder_point > 0{only} "
                "GROUP BY d.drug_id, d.name, d.reorder_point "
                "HAVING usable <= d.reorder_point) AS lv "
                f"LEFT JOIN {PACKAGE_TABLE} ps ON ps.drug_id = lv.drug_id "
                f"LEFT JOIN {STATE_TABLE} s "
                "ON s.kind = IF(lv.usable <= 0, 'out_of_stock', 'low_stock') "
                "AND s.item_key = CAST(lv.drug_id AS CHAR) WHERE 1 = 1" + self._DUE
            ),
            {"today": today, "due": due, **({"ids": list(drug_ids)} if drug_ids else {})},
        )
        packages = PackageCache()
        for r in rows:
            level = StockLevel(int(r[0]), r[1] or "", float(r[2]), int(r[3]),
                               packages.get(r[4], r[5], r[6]))
            kind = "out_of_stock" if level.usable_on_hand <= 0 else "low_stock"
            yield level, self._state(kind, str(level.drug_id), r)

    def lots_to_notify(
        self, today: date, horizon_end: date, due: datetime, *, scope: LotScope | None = None
    ) -> Iterator[tuple[LotRow, StoredState | None]]:
        """Lots with stock that expired (on or before today) or expire by the
        horizon end, in one read, and that are new or due for a reminder; only the
        lots of ``scope`` when given (the incremental scan)."""
        where, params = ("", {}) if scope is None else scope.predicate()
        if scope is not None and not where:
            return
        rows = self._stream(
            (
                "SELECT di.inventory_id, di.drug_id, d.name, COALESCE(di.lot_number, ''), "
                "COALESCE(lo.title, di.warehouse_id), di.on_hand, di.expiration, "
                f"d.reorder_point, {PACKAGE_COLUMNS}, s.state, s.last_notified "
                "FROM drug_inventory di JOIN drugs d ON d.drug_id = di.drug_id "
                "LEFT JOIN list_options lo ON lo.list_id = 'warehouse' "
                "AND lo.option_id = di.warehouse_id "
                f"LEFT JOIN {PACKAGE_TABLE} ps ON ps.drug_id = di.drug_id "
                f"LEFT JOIN {STATE_TABLE} s "
                "ON s.kind = IF(di.expiration <= :today, 'expired', 'expiring') "
                "AND s.item_key = CAST(di.inventory_id AS CHAR) "
                "WHERE di.destroy_date IS NULL AND di.on_hand > 0 "
                "AND di.expiration IS NOT NULL AND di.expiration <= :end" + where + self._DUE
            ),
            {"today": today, "end": horizon_end, "due": due, **params},
        )
        # one string object per product and warehouse name, not one per lot
        names: dict[str, str] = {}
        packages = PackageCache()
        for r in rows:
            product = names.setdefault(r[2] or "", r[2] or "")
            warehouse = names.setdefault(r[4] or "", r[4] or "")
            # a zero or invalid date comes from the driver as its text ('0000-00-00')
            expiration = r[6] if isinstance(r[6], date) else str(r[6])
            lot = LotRow(
                int(r[0]), int(r[1]), product, r[3], warehouse, int(r[5]), expiration,
                float(r[7]), packages.get(r[8], r[9], r[10]),
            )
            kind = lot_expiry_kind(expiration, today=today, horizon_end=horizon_end) or "expiring"
            yield lot, self._state(kind, str(lot.inventory_id), r)

    def shortages_to_notify(
        self, due: datetime
    ) -> Iterator[tuple[ShortageRow, StoredState | None]]:
        """Open shortages from the consumption engine's usage table that are new
        or due for a reminder."""
        rows = self._stream(
            (
                "SELECT u.pid, u.encounter, u.mapping_id, u.drug_id, COALESCE(d.name, ''), "
                "CONCAT(u.code_type, ' ', u.code), u.shortage_units, s.state, s.last_notified "
                f"FROM {USAGE_TABLE} u LEFT JOIN drugs d ON d.drug_id = u.drug_id "
                f"LEFT JOIN {STATE_TABLE} s ON s.kind = 'shortage' "
                "AND s.item_key = CONCAT(u.pid, '-', u.encounter, '-', u.mapping_id) "
                "WHERE u.shortage_units > 0" + self._DUE
            ),
            {"due": due},
        )
        for r in rows:
            row = ShortageRow(int(r[0]), int(r[1]), int(r[2]), int(r[3]), r[4], r[5], float(r[6]))
            key = f"{row.pid}-{row.encounter}-{row.mapping_id}"
            yield row, self._state("shortage", key, r)

    def containers_to_notify(
        self, window_end: datetime, due: datetime
    ) -> Iterator[tuple[ContainerRow, StoredState | None]]:
        """Open containers with units left whose beyond-use time is at or before
        ``window_end``, new or due for a reminder."""
        rows = self._stream(
            (
                "SELECT c.id, c.drug_id, d.name, COALESCE(ps.counting_unit, ''), "
                "COALESCE(di.lot_number, ''), COALESCE(lo.title, c.warehouse_id), "
                f"c.units - {DRAWN} - c.units_wasted, c.beyond_use_at, s.state, "
                f"s.last_notified FROM {CONTAINER_TABLE} c "
                "JOIN drugs d ON d.drug_id = c.drug_id "
                "LEFT JOIN aesthetic_inventory_product_stock ps ON ps.drug_id = c.drug_id "
                "LEFT JOIN drug_inventory di ON di.inventory_id = c.inventory_id "
                "LEFT JOIN list_options lo ON lo.list_id = 'warehouse' "
                "AND lo.option_id = c.warehouse_id "
                f"LEFT JOIN {STATE_TABLE} s ON s.kind = 'container' "
                "AND s.item_key = CAST(c.id AS CHAR) "
                "WHERE c.closed_at IS NULL AND c.beyond_use_at <= :end "
                f"AND c.units - {DRAWN} - c.units_wasted > 0" + self._DUE
            ),
            {"end": window_end, "due": due},
        )
        for r in rows:
            c: Sequence[Any] = r
            row = ContainerRow(int(c[0]), int(c[1]), str(c[2] or ""), str(c[3]), str(c[4]),
                               str(c[5] or ""), int(c[6]), c[7])
            yield row, self._state("container", str(row.container_id), r)

    # -- alert state -------------------------------------------------------------
    # long: one UNION ALL statement, a branch per alert family written out in full
    def states_to_resolve(
        self, today: date, horizon_end: date, *, shortage_rule: bool,
        container_end: datetime | None = None, scope: ResolveScope | None = None,
    ) -> list[StoredState]:
        """Open states whose condition went away, in one statement: each family
        looks up its own item by key (primary or unique key), so the cost grows
        with the open states, and only the resolved ones leave the server. With a
        ``scope`` (the incremental scan) the stock and lot families look only at
        the states of the scope's products and lots."""
        params: dict[str, object]
        if scope is None:
            parts, params = [stock_resolved_sql(False), lots_resolved_sql(False)], {}
        else:
            parts, params = scoped_parts(scope)
        if shortage_rule:
            parts.append(
                f"SELECT s.kind, s.item_key, s.state, s.last_notified FROM {STATE_TABLE} s "
                f"LEFT JOIN {USAGE_TABLE} u "
                "ON u.pid = CAST(SUBSTRING_INDEX(s.item_key, '-', 1) AS SIGNED) "
                "AND u.encounter = "
                "CAST(SUBSTRING_INDEX(SUBSTRING_INDEX(s.item_key, '-', 2), '-', -1) AS SIGNED) "
                "AND u.mapping_id = CAST(SUBSTRING_INDEX(s.item_key, '-', -1) AS UNSIGNED) "
                "AND s.item_key = CONCAT(u.pid, '-', u.encounter, '-', u.mapping_id) "
                "AND u.shortage_units > 0 "
                "WHERE s.state = 'open' AND s.kind = 'shortage' AND u.id IS NULL"
            )
        else:  # the rule is off: no shortage is current
            parts.append(
                f"SELECT s.kind, s.item_key, s.state, s.last_notified FROM {STATE_TABLE} s "
                "WHERE s.state = 'open' AND s.kind = 'shortage'"
            )
        parts.append(_containers_resolved(container_end is not None))
        parts.append(  # kinds no rule produces any more (a range read on kind_item)
            f"SELECT s.kind, s.item_key, s.state, s.last_notified FROM {STATE_TABLE} s "
            "WHERE s.state = 'open' AND s.kind NOT IN "
            "('low_stock', 'out_of_stock', 'expired', 'expiring', 'shortage', 'container')"
        )
        params.update({"today": today, "end": horizon_end, "cend": container_end})
        rows = self.conn.execute(sql_text(" UNION ALL ".join(parts), params), params)
        found: dict[tuple[str, str], StoredState] = {}  # a lot may be in two scope parts
        for r in rows:
            found[(r[0], r[1])] = StoredState(r[0], r[1], r[2], r[3])
        return list(found.values())

    def count_open_notified_after(self, due: datetime) -> int:
        """Open states notified after ``due`` (within the reminder interval)."""
        return int(
            self.conn.execute(
                text(
                    f"SELECT COUNT(*) FROM {STATE_TABLE} "
                    "WHERE state = 'open' AND last_notified > :due"
                ),
                {"due": due},
            ).scalar_one()
        )

    # The notifiable condition of a state row, as the rule queries test it (``_DUE``):
    # a write guarded by it is a compare-and-set against what the scan read.
    _NOTIFIABLE = "(state <> 'open' OR last_notified IS NULL OR last_notified <= :due)"

    def notify_states(
        self,
        new: Sequence[AlertItem],
        existing: Sequence[AlertItem],
        now: datetime,
        due: datetime,
    ) -> None:
        """Mark notified items open and notified now, compare-and-set: ``new`` items
        had no state row when the scan read (a plain INSERT: a row another scan
        created meanwhile is a duplicate key), ``existing`` ones were notifiable
        (changed only if they still are). Any item another scan notified first
        raises :class:`StaleReadError` and the caller rolls everything back.

        Every value of the VALUES list is a placeholder (the constants too):
        PyMySQL's ``executemany`` folds the rows into one multi-row INSERT only
        then (``pymysql.cursors.RE_INSERT_VALUES``); a literal makes it send one
        statement per item."""
        if new:
            params = [
                {"kind": i.kind, "key": i.item_key, "state": "open", "now": now, "count": 1}
                for i in new
            ]
            try:
                self.conn.execute(
                    text(
                        f"INSERT INTO {STATE_TABLE} (kind, item_key, state, first_seen, "
                        "last_seen, last_notified, notify_count) "
                        "VALUES (:kind, :key, :state, :now, :now, :now, :count)"
                    ),
                    params,
                )
            except IntegrityError as exc:
                if mysql_error_code(exc) == ER_DUP_ENTRY:
                    raise StaleReadError("another scan notified these items first") from exc
                raise
        keys = sorted(i.state_key for i in existing)
        changed = self._update_pairs(
            "first_seen = IF(state = 'open', first_seen, :now), "
            "notify_count = IF(state = 'open', notify_count, 0) + 1, last_notified = :now, "
            "state = 'open', resolved_at = NULL, last_seen = :now",
            self._NOTIFIABLE,
            keys,
            {"now": now, "due": due},
        )
        if changed != len(keys):
            raise StaleReadError("another scan notified these items first")

    def _update_pairs(
        self, assignments: str, condition: str, keys: Sequence[tuple[str, str]],
        params: dict[str, object],
    ) -> int:
        """One UPDATE per 1000 (kind, item_key) pairs; the rows it matched."""
        # row-constructor IN on (kind, item_key) can use the kind_item key;
        # chunks keep the statement small when a large clinic changes many items
        done = 0
        for start in range(0, len(keys), 1000):
            chunk = keys[start : start + 1000]
            values = dict(params)
            pairs = []
            for n, (kind, key) in enumerate(chunk):
                values[f"k{n}"], values[f"i{n}"] = kind, key
                pairs.append(f"(:k{n}, :i{n})")
            result = self.conn.execute(
                text(
                    f"UPDATE {STATE_TABLE} SET {assignments} WHERE {condition} "
                    "AND (kind, item_key) IN (" + ", ".join(pairs) + ")"
                ),
                values,
            )
            done += result.rowcount
        return done

    def resolve_states(self, keys: Iterable[tuple[str, str]], now: datetime) -> int:
        """Close states whose condition went away, compare-and-set: each must still
        be open, else another scan resolved it first (:class:`StaleReadError`)."""
        wanted = sorted(keys)
        done = self._update_pairs(
            "state = 'resolved', resolved_at = :now", "state = 'open'", wanted, {"now": now}
        )
        if done != len(wanted):
            raise StaleReadError("another scan resolved these items first")
        return done

    def touch_last_notify(self, now: datetime) -> None:
        """Keep OpenEMR's ``last_notify`` columns current for the items notified
        in this scan: exactly the state rows this transaction stamped with
        ``last_notified = now``. One UPDATE per table, joined on the key, so no
        id list travels (a first scan of a large clinic notifies ~30k lots)."""
        self.conn.execute(
            text(
                f"UPDATE {STATE_TABLE} s JOIN drugs d ON d.drug_id = CAST(s.item_key AS UNSIGNED) "
                "SET d.last_notify = :today WHERE s.kind IN ('low_stock', 'out_of_stock') "
                "AND s.last_notified = :now"
            ),
            {"today": now.date(), "now": now},
        )
        self.conn.execute(
            text(
                f"UPDATE {STATE_TABLE} s "
                "JOIN drug_inventory di ON di.inventory_id = CAST(s.item_key AS UNSIGNED) "
                "SET di.last_notify = :today WHERE s.kind IN ('expired', 'expiring') "
                "AND s.last_notified = :now"
            ),
            {"today": now.date(), "now": now},
        )


def _containers_resolved(rule_on: bool) -> str:
    """Open container alerts whose container was closed or used up, or left its
    window (``:cend``); every one when the rule is off (no container table)."""
    if not rule_on:
        return (f"SELECT s.kind, s.item_key, s.state, s.last_notified FROM {STATE_TABLE} s "
                "WHERE s.state = 'open' AND s.kind = 'container'")
    return (
        f"SELECT s.kind, s.item_key, s.state, s.last_notified FROM {STATE_TABLE} s "
        f"LEFT JOIN {CONTAINER_TABLE} c ON c.id = CAST(s.item_key AS UNSIGNED) "
        "AND s.item_key = CAST(c.id AS CHAR) AND c.closed_at IS NULL "
        f"AND c.beyond_use_at <= :cend AND c.units - {DRAWN} - c.units_wasted > 0 "
        "WHERE s.state = 'open' AND s.kind = 'container' AND c.id IS NULL"
    )
