"""The lot reads and writes of a reconcile (SQLAlchemy Core or the driver's own
placeholders, values always bound): the unlocked snapshot in sellDrug's order with its
running-total cut, the locks in ``inventory_id`` order, and the ``on_hand`` updates."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import bindparam, case, column, table, text
from sqlalchemy.engine import Connection, CursorResult, Engine

from ..domain import Lot, check_bounds
from ..lot_order import LOT_KEY, UNAVAILABLE_WAREHOUSE_SEQ, RemovalStrategy

_drug_inventory = table("drug_inventory", column("inventory_id"), column("on_hand"))


class LotRepository:
    """Lot SQL of one reconcile, on the connection of the caller's transaction."""

    # Usable lots above which a product's snapshot is read bounded (None: DEEP_LOTS);
    # the two reads choose the same lots, so this only moves the crossover
    deep_lots: int | None = None

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def lock_lots(self, drug_ids: Iterable[int], extra_lot_ids: Iterable[int]) -> list[Lot]:
        """Lock the candidate lots of all needed products (and the lots returns go to)
        in one statement, ordered by inventory_id so every reconcile locks in the same
        order. Warehouse seqs are read separately: a locking join would lock the shared
        list_options rows and serialise every reconcile of the clinic."""
        drugs = sorted(set(drug_ids))
        drug_ids_given = bool(drugs)
        extra = sorted(set(extra_lot_ids)) or [-1]
        if not drugs:
            drugs = [-1]
        rows = self.conn.execute(
            text(
                f"SELECT inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number, "
                f"destroy_date IS NOT NULL, {LOT_KEY} FROM drug_inventory "
                "WHERE (drug_id IN :drugs AND destroy_date IS NULL AND on_hand <> 0) "
                "OR inventory_id IN :extra ORDER BY inventory_id FOR UPDATE"
            ).bindparams(bindparam("drugs", expanding=True), bindparam("extra", expanding=True)),
            {"drugs": drugs, "extra": extra},
        ).all()
        # returns alone need no lot order, so no warehouse read
        seqs = self.warehouse_seqs({r[3] or "" for r in rows}) if drug_ids_given else {}
        return [_lot(r, seqs.get(r[3] or "")) for r in rows]

    def candidate_lots(
        self,
        drug_ids: Iterable[int],
        extra_lot_ids: Iterable[int],
        *,
        needs: dict[int, int] | None = None,
        default_warehouse: str = "",
        sale_date: date | None = None,
        only_warehouse: str | None = None,
    ) -> list[Lot]:
        """The same lots as :meth:`lock_lots`, WITHOUT locks, with their warehouse seq
        joined in (a plain read locks nothing, so the join costs no contention).

        For a product in ``needs`` (``{drug_id: units}``, only when every requirement
        of it allows combining and all share ``default_warehouse``) only the usable
        lots up to the one that covers the units are read: a running total in sellDrug's
        order (default warehouse, seq, expiration) cut after whole groups of equal sort
        key, so the exact tie order (lot number, id) is still decided by the domain
        rules. The allocation is chosen on this snapshot; only the lots it touches are
        then locked, by the UPDATE that writes them, and re-checked under that lock
        (:meth:`adjust_lots_as_planned`).

        ``sale_date`` is the expiry cutoff of the cut (lots expiring on or before it are
        unusable: the sale date plus any blocked days); ``only_warehouse`` limits the
        cut to that warehouse (SELL_FROM_ONE_WAREHOUSE), so the running total counts
        only lots the sale may take."""
        needs = dict(needs or {})
        plain = sorted(set(drug_ids) - set(needs))
        extra = sorted(set(extra_lot_ids))
        # placeholders are %s (see driver_sql): params are listed in the order they appear
        branches: list[tuple[str, list[object]]] = []
        if plain or extra or not needs:  # a first save wants only the cut read below
            branches.append(_plain_branch(plain or [-1], extra or [-1]))
        deep = _DEEP.setdefault(self.conn.engine, set())
        cutoff = sale_date or date.today()
        shallow = {d: n for d, n in needs.items() if d not in deep}
        if shallow:
            branches.append(_window_branch(shallow, default_warehouse, cutoff, only_warehouse))
        if len(shallow) < len(needs):
            branches.append(_cut_branch({d: n for d, n in needs.items() if d not in shallow},
                                        default_warehouse, cutoff, only_warehouse,
                                        self.conn.info.get(_WAREHOUSES)))
        if needs:  # the warehouse list, for the next read's bounded branches
            branches.append(_WAREHOUSE_LIST)
        sql = " UNION ALL ".join(branch for branch, _ in branches)
        params = [p for _, branch_params in branches for p in branch_params]
        rows = driver_sql(self.conn, sql, params).all()
        if needs:
            self.conn.info[_WAREHOUSES] = tuple(sorted({str(r[9]) for r in rows if r[0] is None}))
            limit = DEEP_LOTS if self.deep_lots is None else self.deep_lots
            deep.update(int(r[1]) for r in rows if r[10] is not None and int(r[10]) > limit)
        lots = {
            int(r[0]): _lot((*r[:7], r[8]), None if r[7] is None else int(r[7]))
            for r in rows if r[0] is not None
        }
        return [lots[k] for k in sorted(lots)]

    def lock_lots_by_id(
        self, lot_ids: Iterable[int], seqs: dict[str, int | None]
    ) -> list[Lot] | None:
        """Lock the given lots by primary key in inventory_id order (the order every
        reconcile locks in) and return their current state (after a failed
        :meth:`adjust_lots_as_planned`, which holds them already). The warehouse seq is taken
        from ``seqs`` (the snapshot's); a lot that moved to a warehouse not in it
        returns None, so the caller falls back to the full lock."""
        ids = sorted(set(lot_ids))
        if not ids:
            return []
        rows = self.conn.execute(
            text(
                f"SELECT inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number, "
                f"destroy_date IS NOT NULL, {LOT_KEY} FROM drug_inventory "
                "WHERE inventory_id IN :ids ORDER BY inventory_id FOR UPDATE"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": ids},
        ).all()
        if any((r[3] or "") not in seqs for r in rows):
            return None
        return [_lot(r, seqs[r[3] or ""]) for r in rows]

    def warehouse_seqs(self, warehouse_ids: set[str]) -> dict[str, int | None]:
        """``list_options.seq`` of the active warehouses (LEFT JOIN semantics of sellDrug)."""
        if not warehouse_ids:
            return {}
        rows = self.conn.execute(
            text(
                "SELECT option_id, seq FROM list_options WHERE list_id = 'warehouse' "
                "AND activity = 1 AND option_id IN :ids"
            ).bindparams(bindparam("ids", expanding=True)),
            {"ids": sorted(warehouse_ids)},
        )
        return {r[0]: (None if r[1] is None else int(r[1])) for r in rows}

    # -- writes -------------------------------------------------------------------

    def adjust_lots(self, deltas: dict[int, int]) -> int:
        """``on_hand += delta`` for many lots in one UPDATE (negative delta = taken)."""
        deltas = {k: v for k, v in deltas.items() if v and k}
        if not deltas:
            return 0
        stmt = (
            _drug_inventory.update()
            .where(_drug_inventory.c.inventory_id.in_(sorted(deltas)))
            .values(
                on_hand=_drug_inventory.c.on_hand
                + case(deltas, value=_drug_inventory.c.inventory_id, else_=0)
            )
        )
        self.conn.execute(stmt)
        return 1

    def adjust_lots_as_planned(self, deltas: dict[int, int], expected: dict[int, Lot]) -> bool:
        """``on_hand += delta`` for the lots a plan touches, in one UPDATE that is also
        their lock: it locks them in inventory_id order (``ORDER BY``, the order every
        reconcile locks in) and checks each row, under its lock, against the state the
        plan was made on (``expected``). Returns True when every row still gives the
        same plan (:func:`~..domain.check_bounds`: a lot the plan leaves with stock may
        have lost some to a concurrent save, as long as it still covers the take).

        The deltas are applied unconditionally, so that on False the state each row had
        when it was locked is exactly its current state minus its delta (the caller
        re-plans and writes the difference). A row that differs calls
        ``LAST_INSERT_ID(inventory_id)``, which the server reports in the UPDATE's own
        reply (it is 0 for an UPDATE that never calls it): the check costs no extra
        round trip."""
        deltas = {k: v for k, v in deltas.items() if v and k}
        if not deltas:
            return True
        ids = sorted(deltas)
        adds: list[object] = []
        checks: list[object] = []
        for lot_id in ids:
            lot = expected[lot_id]
            low, high = check_bounds(lot.on_hand, deltas[lot_id])
            adds += (lot_id, deltas[lot_id])
            checks += (lot_id, low, high, lot.drug_id, lot.warehouse_id, lot.expiration,
                       lot.lot_number, int(lot.destroyed))
        check = (
            "WHEN %s THEN on_hand BETWEEN %s AND %s AND drug_id = %s "
            "AND COALESCE(warehouse_id, '') = %s "
            "AND expiration <=> %s AND lot_number <=> %s AND (destroy_date IS NOT NULL) = %s"
        )
        result = driver_sql(
            self.conn,
            "UPDATE drug_inventory SET on_hand = on_hand + CASE inventory_id "
            + " ".join(["WHEN %s THEN %s"] * len(ids))
            + " END + IF(CASE inventory_id " + " ".join([check] * len(ids))
            + " END, 0, 0 * LAST_INSERT_ID(inventory_id)) "
            f"WHERE inventory_id IN ({marks(len(ids))}) ORDER BY inventory_id",
            [*adds, *checks, *ids],
        )
        # rowcount is rows found (SQLAlchemy's MySQL dialects set CLIENT.FOUND_ROWS): a
        # lot deleted meanwhile is a difference too
        return not result.lastrowid and result.rowcount == len(ids)


_COLUMNS = (
    "di.inventory_id, di.drug_id, di.on_hand, di.warehouse_id, di.expiration, "
    "di.lot_number, di.destroy_date IS NOT NULL AS destroyed, lo.seq, "
    f"{RemovalStrategy.lot_key_sql()} AS lot_key"
)
# Every branch has 11 columns: the lot's 9, then a warehouse id (the warehouse list
# branch only) and the product's number of usable lots (the window branch only)
_WAREHOUSE_LIST: tuple[str, list[object]] = (
    "SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, option_id, NULL "
    "FROM list_options WHERE list_id = 'warehouse'",
    [],
)
# Products with more usable lots than this are read through the bounded branches
DEEP_LOTS = 64
_DEEP: WeakKeyDictionary[Engine, set[int]] = WeakKeyDictionary()
# Connection.info key: the warehouse ids the last cut read saw (list 'warehouse')
_WAREHOUSES = "aesthetic_inventory.warehouses"
_WITH_SEQ = (
    "FROM drug_inventory di LEFT JOIN list_options lo "
    "ON lo.list_id = 'warehouse' AND lo.option_id = di.warehouse_id AND lo.activity = 1 "
)


def _plain_branch(drugs: list[int], extra: list[int]) -> tuple[str, list[object]]:
    """Every candidate lot of ``drugs`` and the lots ``extra`` (by id)."""
    return (
        f"SELECT {_COLUMNS}, NULL, NULL {_WITH_SEQ}"
        f"WHERE (di.drug_id IN ({marks(len(drugs))}) AND di.destroy_date IS NULL "
        f"AND di.on_hand <> 0) OR di.inventory_id IN ({marks(len(extra))})",
        [*drugs, *extra],
    )


def _cut_branch(
    needs: dict[int, int], wh: str, cutoff: date, only_warehouse: str | None,
    known: Sequence[str] | None,
) -> tuple[str, list[object]]:
    """The usable lots of each product in ``needs`` in sellDrug's order, up to and
    including the lot that covers its units (running total in the whole order, lot
    number under the collation and id included, so the prefix is exact).

    Bounded: per product and warehouse of ``known`` the lots come from the
    ``aesthetic_inventory_fefo`` index in that warehouse's order (expiration, lot
    number, id) with ``LIMIT need`` (every usable lot holds at least one unit, and any
    prefix of the merged order is a prefix of each warehouse's own order), so the read
    does not grow with the number of lots. Lots in a warehouse not in ``known`` (None:
    not read yet on this connection) are read unbounded, so a stale list costs time,
    never correctness."""
    cut = sorted(needs)
    usable = ("destroy_date IS NULL AND on_hand > 0 "
              "AND (expiration IS NULL OR expiration > %s)")
    cols = ("SELECT inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number "
            "FROM drug_inventory ")
    # lots without a warehouse ('') are rare: the unbounded branch reads them
    warehouses = [only_warehouse] if only_warehouse is not None else sorted(set(known or ()))
    parts: list[str] = []
    params: list[object] = []
    if known is not None or only_warehouse is not None:
        for drug in cut:
            for w in warehouses:
                parts.append(f"({cols}FORCE INDEX (aesthetic_inventory_fefo) "
                             f"WHERE drug_id = %s AND warehouse_id = %s AND {usable} "
                             "ORDER BY expiration, lot_number, inventory_id "
                             f"LIMIT {int(needs[drug])})")
                params += [drug, w, cutoff]
    if only_warehouse is None:  # lots in warehouses the bounded branches do not cover
        known_list = [w for w in warehouses if w] if known is not None else []
        other = (f" AND (warehouse_id IS NULL OR warehouse_id NOT IN ({marks(len(known_list))}))"
                 if known_list else "")
        parts.append(f"({cols}FORCE INDEX (aesthetic_inventory_fefo) "
                     f"WHERE drug_id IN ({marks(len(cut))}) AND {usable}{other})")
        params += [*cut, cutoff, *known_list]
    whens = " ".join(["WHEN %s THEN %s"] * len(cut))
    # sellDrug's whole order (its only parameter is wh, twice)
    order = RemovalStrategy.order_by_sql("%s", alias="c")
    sql = (
        "SELECT x.inventory_id, x.drug_id, x.on_hand, x.warehouse_id, x.expiration, "
        "x.lot_number, 0, x.seq, x.lot_key, NULL, NULL FROM (SELECT c.*, lo.seq, "
        f"{RemovalStrategy.lot_key_sql('c')} AS lot_key, "
        f"SUM(c.on_hand) OVER (PARTITION BY c.drug_id ORDER BY {order} "
        "ROWS UNBOUNDED PRECEDING) - c.on_hand AS before_row, "
        f"CASE c.drug_id {whens} END AS need FROM ({' UNION ALL '.join(parts)}) c "
        "LEFT JOIN list_options lo ON lo.list_id = 'warehouse' "
        "AND lo.option_id = c.warehouse_id AND lo.activity = 1 "
        "WHERE COALESCE(c.warehouse_id, '') = %s OR COALESCE(lo.seq, 0) <= "
        f"{UNAVAILABLE_WAREHOUSE_SEQ}) x WHERE x.before_row < x.need"
    )
    return sql, [wh, wh, *[x for drug in cut for x in (drug, needs[drug])], *params, wh]


def _window_branch(
    needs: dict[int, int], wh: str, cutoff: date, only_warehouse: str | None
) -> tuple[str, list[object]]:
    """The usable lots of each product in ``needs`` in sellDrug's order, up to and
    including the group of equal sort key that covers its units (running total over
    every usable lot of the product: cheapest for a product with few lots), with the
    product's number of usable lots (a deep product is read bounded next time)."""
    cut = sorted(needs)
    whens = " ".join(["WHEN %s THEN %s"] * len(cut))
    # sellDrug's order up to the lot-number tie (both windows); its only parameter is
    # wh, twice per use
    key = RemovalStrategy.group_sql("%s")
    sql = (
        "SELECT c.inventory_id, c.drug_id, c.on_hand, c.warehouse_id, "
        "c.expiration, c.lot_number, c.destroyed, c.seq, c.lot_key, NULL, c.usable "
        f"FROM (SELECT {_COLUMNS}, "
        f"SUM(di.on_hand) OVER (PARTITION BY di.drug_id ORDER BY {key} "
        "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        f"- SUM(di.on_hand) OVER (PARTITION BY di.drug_id, {key}) AS before_group, "
        "COUNT(*) OVER (PARTITION BY di.drug_id) AS usable, "
        f"CASE di.drug_id {whens} END AS need {_WITH_SEQ}"
        f"WHERE di.drug_id IN ({marks(len(cut))}) AND di.destroy_date IS NULL "
        "AND di.on_hand > 0 AND (di.expiration IS NULL OR di.expiration > %s) "
        "AND (COALESCE(di.warehouse_id, '') = %s OR COALESCE(lo.seq, 0) <= "
        f"{UNAVAILABLE_WAREHOUSE_SEQ})"
        + (" AND di.warehouse_id = %s" if only_warehouse is not None else "")
        + ") c WHERE c.before_group < c.need"
    )
    params: list[object] = [wh, wh, wh, wh]
    params += [x for drug in cut for x in (drug, needs[drug])]
    params += [*cut, cutoff, wh]
    if only_warehouse is not None:
        params.append(only_warehouse)
    return sql, params


def marks(n: int) -> str:
    """``n`` DBAPI placeholders for an IN list."""
    return ", ".join(["%s"] * n)


def driver_sql(conn: Connection, sql: str, params: Sequence[object]) -> CursorResult[Any]:
    """Run SQL written with the driver's own ``%s`` placeholders (values still bound:
    PyMySQL escapes every parameter). The hot statements of a reconcile go this way
    because building, caching and binding a ``text()`` with dozens of (expanding)
    parameters cost a measurable part of a fee-sheet save; statement events (and so
    statement counting) still fire."""
    return conn.exec_driver_sql(sql, tuple(params))


def _lot(r: Sequence[Any], seq: int | None) -> Lot:
    """A Lot from (inventory_id, drug_id, on_hand, warehouse_id, expiration, lot_number,
    destroyed, lot key) and its warehouse seq. A zero or invalid expiration comes from
    PyMySQL as its text ('0000-00-00') and stays text: the domain compares it as PHP
    does; a driver that gives None for it cannot be told from NULL, hence the text."""
    key = r[7] if len(r) > 7 else None
    return Lot(
        inventory_id=int(r[0]),
        drug_id=int(r[1]),
        on_hand=int(r[2]),
        warehouse_id=str(r[3] or ""),
        warehouse_seq=seq,
        expiration=_expiration(r[4]),
        lot_number=r[5],
        destroyed=bool(r[6]),
        lot_key=None if key is None else bytes(key),
    )


def lot_from_row(r: Sequence[Any], seq: int | None) -> Lot:
    """A Lot from the columns every lot read of this module selects (public for the
    containers' lock, which reads lots and their open containers in one statement)."""
    return _lot(r, seq)


def _expiration(value: object) -> date | str | None:
    """A DATE column as the domain takes it: a date, None, or an invalid date's text."""
    if value is None or isinstance(value, date):
        return value
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


