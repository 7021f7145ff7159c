"""The seed's PHP approach, reimplemented faithfully as a comparator.

The seed's fee-sheet hook did not reconcile: on every save it tested availability
per mapping, deleted every ``AUTO_PROC`` row of the visit (putting the stock back
lot by lot) and sold everything again through OpenEMR's ``sellDrug`` loop, which
issues one UPDATE and one INSERT per lot it draws from and takes no row locks.
Its alert job selected the low and expiring items and then ran one UPDATE per
notified row. These functions do exactly that against the same database, in the
same process, so the benchmark can put a ratio next to each figure.

Deliberate kindness to the baseline: a save runs in one transaction (PHP ran in
autocommit, paying one commit per statement), which makes it faster, not slower.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

_LOTS_FOR_SALE = text(
    "SELECT di.inventory_id, di.on_hand FROM drug_inventory AS di "
    "LEFT JOIN list_options AS lo ON lo.list_id = 'warehouse' "
    "AND lo.option_id = di.warehouse_id AND lo.activity = 1 "
    "WHERE di.drug_id = :drug_id AND di.destroy_date IS NULL AND di.on_hand != 0 "
    "AND (di.expiration IS NULL OR di.expiration > :sale_date) "
    "AND (di.warehouse_id = :default_wh OR lo.seq IS NULL OR lo.seq <= 99) "
    "ORDER BY (di.warehouse_id = :default_wh) DESC, lo.seq, di.expiration, di.lot_number, "
    "di.inventory_id"
)


@dataclass(frozen=True)
class BaselineSave:
    """What one baseline fee-sheet save did."""

    deleted_rows: int
    sold_rows: int
    unfilled_mappings: int


def _sell_drug(
    conn: Connection,
    drug_id: int,
    quantity: int,
    *,
    allow_combining: bool,
    pid: int,
    encounter: int,
    sale_date: date,
    username: str,
    selector: str,
) -> int:
    """OpenEMR's sellDrug loop: read the lots, then UPDATE + INSERT lot by lot."""
    lots = conn.execute(
        _LOTS_FOR_SALE, {"drug_id": drug_id, "sale_date": sale_date, "default_wh": ""}
    ).all()
    if not allow_combining:
        lots = [lot for lot in lots if lot.on_hand >= quantity][:1]
    remaining = quantity
    rows = 0
    for lot in lots:
        if remaining <= 0:
            break
        take = min(remaining, int(lot.on_hand))
        if take <= 0:
            continue
        conn.execute(
            text("UPDATE drug_inventory SET on_hand = on_hand - :q WHERE inventory_id = :id"),
            {"q": take, "id": lot.inventory_id},
        )
        conn.execute(
            text(
                "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, user, sale_date, "
                "quantity, fee, trans_type, selector) VALUES (:drug_id, :inv, :pid, :enc, :user, "
                ":sale_date, :q, 0, 1, :selector)"
            ),
            {
                "drug_id": drug_id,
                "inv": lot.inventory_id,
                "pid": pid,
                "enc": encounter,
                "user": username,
                "sale_date": sale_date,
                "q": take,
                "selector": selector,
            },
        )
        remaining -= take
        rows += 1
    return rows


def baseline_save_fee_sheet(
    engine: Engine, pid: int, encounter: int, *, username: str = "admin"
) -> BaselineSave:
    """One fee-sheet save, the seed's way (delete every AUTO_PROC row, sell again)."""
    with engine.begin() as conn:
        visit = conn.execute(
            text("SELECT date FROM form_encounter WHERE pid = :pid AND encounter = :enc"),
            {"pid": pid, "enc": encounter},
        ).first()
        sale_date = visit.date.date() if visit is not None and visit.date else date.today()
        lines = conn.execute(
            text(
                "SELECT code_type, code, units FROM billing WHERE pid = :pid AND "
                "encounter = :enc AND activity = 1"
            ),
            {"pid": pid, "enc": encounter},
        ).all()
        # Per billing line, its mappings; per mapping an availability pass.
        wanted: list[tuple[Any, int]] = []
        for line in lines:
            mappings = conn.execute(
                text(
                    "SELECT pp.id, pp.drug_id, pp.quantity, d.allow_combining FROM "
                    "procedure_products AS pp JOIN drugs AS d ON d.drug_id = pp.drug_id "
                    "WHERE pp.code_type = :ct AND pp.code = :code"
                ),
                {"ct": line.code_type, "code": line.code},
            ).all()
            for mapping in mappings:
                need = math.ceil(float(mapping.quantity) * int(line.units or 1))
                available = conn.execute(
                    text(
                        "SELECT COALESCE(SUM(on_hand), 0) FROM drug_inventory WHERE "
                        "drug_id = :d AND destroy_date IS NULL AND on_hand > 0 AND "
                        "(expiration IS NULL OR expiration > :sd)"
                    ),
                    {"d": mapping.drug_id, "sd": sale_date},
                ).scalar_one()
                if int(available) >= need:
                    wanted.append((mapping, need))
        # Delete every AUTO_PROC row of the visit, returning the stock row by row.
        old = conn.execute(
            text(
                "SELECT sale_id, inventory_id, quantity FROM drug_sales WHERE pid = :pid AND "
                "encounter = :enc AND selector LIKE 'AUTO_PROC:%' AND billed = 0"
            ),
            {"pid": pid, "enc": encounter},
        ).all()
        for row in old:
            if row.inventory_id:
                conn.execute(
                    text(
                        "UPDATE drug_inventory SET on_hand = on_hand + :q "
                        "WHERE inventory_id = :id"
                    ),
                    {"q": row.quantity, "id": row.inventory_id},
                )
            conn.execute(text("DELETE FROM drug_sales WHERE sale_id = :id"), {"id": row.sale_id})
        # Sell everything again.
        sold = 0
        unfilled = 0
        for mapping, need in wanted:
            rows = _sell_drug(
                conn,
                int(mapping.drug_id),
                need,
                allow_combining=bool(mapping.allow_combining),
                pid=pid,
                encounter=encounter,
                sale_date=sale_date,
                username=username,
                selector=f"AUTO_PROC:{mapping.id}",
            )
            sold += rows
            unfilled += 0 if rows else 1
    return BaselineSave(deleted_rows=len(old), sold_rows=sold, unfilled_mappings=unfilled)


@dataclass(frozen=True)
class BaselineScan:
    """What one baseline alert run did."""

    low_stock: int
    expiring: int
    updates: int


def baseline_alert_scan(
    engine: Engine, *, today: date | None = None, horizon_days: int = 30, commit: bool = True
) -> BaselineScan:
    """The seed's alert job: two selects, one UPDATE per notified row, one CRM row.

    ``commit=False`` rolls the run back, so the benchmark can time it and then let
    the module scan the very same state."""
    today = today or date.today()
    with engine.connect() as conn, conn.begin() as trans:
        low = conn.execute(
            text(
                "SELECT d.drug_id, d.name, d.reorder_point, COALESCE(SUM(CASE WHEN "
                "di.destroy_date IS NULL AND (di.expiration IS NULL OR di.expiration > :today) "
                "THEN di.on_hand ELSE 0 END), 0) AS stock FROM drugs AS d LEFT JOIN "
                "drug_inventory AS di ON di.drug_id = d.drug_id WHERE d.active = 1 AND "
                "d.reorder_point > 0 AND (d.last_notify IS NULL OR d.last_notify < :today) "
                "GROUP BY d.drug_id, d.name, d.reorder_point HAVING stock <= d.reorder_point"
            ),
            {"today": today},
        ).all()
        expiring = conn.execute(
            text(
                "SELECT di.inventory_id, di.lot_number, di.expiration, d.name FROM "
                "drug_inventory AS di JOIN drugs AS d ON d.drug_id = di.drug_id WHERE "
                "di.on_hand > 0 AND di.destroy_date IS NULL AND di.expiration IS NOT NULL AND "
                "di.expiration <= :until AND (di.last_notify IS NULL OR di.last_notify < :today)"
            ),
            {"today": today, "until": date.fromordinal(today.toordinal() + horizon_days)},
        ).all()
        for row in low:
            conn.execute(
                text("UPDATE drugs SET last_notify = :today WHERE drug_id = :id"),
                {"today": today, "id": row.drug_id},
            )
        for row in expiring:
            conn.execute(
                text("UPDATE drug_inventory SET last_notify = :today WHERE inventory_id = :id"),
                {"today": today, "id": row.inventory_id},
            )
        body = "\n".join(f"Low stock: {r.name}" for r in low) + "\n" + "\n".join(
            f"Expiring: {r.name} lot {r.lot_number} on {r.expiration}" for r in expiring
        )
        conn.execute(
            text(
                "INSERT INTO notification_log (pid, pc_eid, sms_gateway_type, smsgateway_info, "
                "message, email_sender, email_subject, type, patient_info, pc_eventDate, "
                "pc_endDate, pc_startTime, pc_endTime, dSentDateTime) VALUES (0, NULL, 'CRM', "
                "'AestheticInventory', :msg, 'no-reply@openemr.local', "
                "'Aesthetic Inventory Alert', 'Email', '', :today, :today, '00:00:00', "
                "'23:59:59', NOW())"
            ),
            # notification_log.message is TEXT (64 KiB); a first run can list more.
            {"msg": body.encode()[:65000].decode(errors="ignore"), "today": today},
        )
        if not commit:
            trans.rollback()
    return BaselineScan(
        low_stock=len(low), expiring=len(expiring), updates=len(low) + len(expiring)
    )
