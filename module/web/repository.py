"""Every SQL statement of the web face: sign-in facts, today's visits, BOM, usable lots."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..consumption.lot_order import RemovalStrategy
from .domain import BomLine
from .login_policy import LockoutPolicy, LoginRecord

_USABLE_LOT = (
    "di.destroy_date IS NULL AND di.on_hand > 0 "
    "AND (di.expiration IS NULL OR di.expiration >= :today) "
    # not in a warehouse OpenEMR does not sell from (seq above 99: quarantine, recalls)
    "AND NOT EXISTS (SELECT 1 FROM list_options ul WHERE ul.list_id = 'warehouse' "
    "AND ul.option_id = di.warehouse_id AND ul.activity = 1 AND ul.seq > 99)"
)


class AuthRepository:
    """OpenEMR's ``users`` / ``users_secure`` / ``globals`` as sign-in needs them."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def login_record(self, username: str) -> LoginRecord | None:
        """The user's sign-in facts (username compared byte for byte, as OpenEMR does)."""
        row = self.connection.execute(
            text(
                "SELECT u.id, u.username, s.password, u.active, "
                "COALESCE(s.login_fail_counter, 0), "
                "TIMESTAMPDIFF(SECOND, s.last_login_fail, NOW()) "
                "FROM users_secure s JOIN users u ON u.id = s.id "
                "WHERE BINARY s.username = :u"
            ),
            {"u": username},
        ).first()
        if row is None:
            return None
        return LoginRecord(
            user_id=int(row[0]), username=str(row[1]), password_hash=row[2],
            active=bool(row[3]), fail_counter=int(row[4]),
            seconds_since_last_fail=None if row[5] is None else int(row[5]),
        )

    def lockout_policy(self) -> LockoutPolicy:
        """The site's ``password_max_failed_logins`` / ``time_reset_...`` globals."""
        rows: dict[str, object] = {
            str(name): value for name, value in self.connection.execute(
                text(
                    "SELECT gl_name, gl_value FROM globals WHERE gl_name IN "
                    "('password_max_failed_logins', 'time_reset_password_max_failed_logins')"
                )
            ).all()
        }
        default = LockoutPolicy()

        def number(name: str, fallback: int) -> int:
            try:
                return int(str(rows[name]).strip())
            except (KeyError, ValueError):
                return fallback

        return LockoutPolicy(
            max_failed=number("password_max_failed_logins", default.max_failed),
            reset_seconds=number("time_reset_password_max_failed_logins", default.reset_seconds),
        )

    def record_failure(self, user_id: int) -> None:
        """Count a failed sign-in the way OpenEMR's AuthUtils does."""
        self.connection.execute(
            text(
                "UPDATE users_secure SET login_fail_counter = login_fail_counter + 1, "
                "total_login_fail_counter = total_login_fail_counter + 1, "
                "last_login_fail = NOW() WHERE id = :i"
            ),
            {"i": user_id},
        )

    def reset_failures(self, user_id: int) -> None:
        self.connection.execute(
            text("UPDATE users_secure SET login_fail_counter = 0 WHERE id = :i"), {"i": user_id}
        )

    def is_active(self, username: str) -> bool:
        value = self.connection.execute(
            text("SELECT active FROM users WHERE BINARY username = :u"), {"u": username}
        ).scalar()
        return bool(value)


class CatalogRepository:
    """Reads for the review page and the BOM endpoint (never writes)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def visits_on(self, day: date) -> list[dict]:
        """Visits of ``day`` with at least one active billing line that has a mapping."""
        rows = self.connection.execute(
            text(
                "SELECT fe.pid, fe.encounter, fe.date, pd.fname, pd.lname, "
                "b.code_type, b.code, b.code_text, "
                "COALESCE(NULLIF(TRIM(CONCAT_WS(' ', pu.fname, pu.lname)), ''), "
                "pu.username, ''), EXISTS (SELECT 1 FROM aesthetic_inventory_usage us "
                "WHERE us.pid = fe.pid AND us.encounter = fe.encounter "
                "AND us.recorded_at IS NOT NULL) "
                "FROM form_encounter fe "
                "JOIN billing b ON b.pid = fe.pid AND b.encounter = fe.encounter "
                "AND b.activity = 1 "
                "LEFT JOIN patient_data pd ON pd.pid = fe.pid "
                "LEFT JOIN users pu ON pu.id = fe.provider_id "
                "WHERE fe.date >= :d AND fe.date < :n "
                "AND EXISTS (SELECT 1 FROM procedure_products pp "
                "WHERE pp.code_type = b.code_type AND pp.code = b.code) "
                "ORDER BY fe.date, fe.pid, fe.encounter, b.id"
            ),
            {"d": day, "n": day + timedelta(days=1)},
        ).all()
        visits: dict[tuple[int, int], dict] = {}
        for row in rows:
            key = (int(row[0]), int(row[1]))
            visit = visits.setdefault(key, {
                "pid": key[0], "encounter": key[1], "date": row[2],
                "patient": " ".join(p for p in (row[3], row[4]) if p) or f"Patient {key[0]}",
                "codes": [], "provider": str(row[8] or ""), "recorded": bool(row[9]),
            })
            code = f"{row[5]}:{row[6]}"
            if code not in [c["code"] for c in visit["codes"]]:
                visit["codes"].append({"code": code, "text": row[7] or ""})
        return list(visits.values())

    def procedure_exists(self, code_type: str, code: str) -> bool:
        return self.connection.execute(
            text("SELECT 1 FROM procedure_products WHERE code_type = :t AND code = :c LIMIT 1"),
            {"t": code_type, "c": code},
        ).first() is not None

    def bom(self, code_type: str, code: str, today: date) -> list[BomLine]:
        """The mapped products of one procedure code with usable stock and unit cost.

        Unit cost is the module's product cost (``drugs.unit_cost``, added by migrate).
        """
        rows = self.connection.execute(
            text(
                "SELECT pp.id, d.drug_id, d.name, d.ndc_number, d.unit, pp.quantity, "
                "COALESCE((SELECT SUM(di.on_hand) FROM drug_inventory di "
                f"WHERE di.drug_id = d.drug_id AND {_USABLE_LOT}), 0), d.reorder_point, "
                "d.unit_cost, d.aesthetic_category "
                "FROM procedure_products pp JOIN drugs d ON d.drug_id = pp.drug_id "
                "WHERE pp.code_type = :t AND pp.code = :c ORDER BY pp.id"
            ),
            {"t": code_type, "c": code, "today": today},
        ).all()
        return [
            BomLine(
                mapping_id=int(r[0]), drug_id=int(r[1]), product_name=str(r[2] or ""),
                ndc=str(r[3] or ""), unit=str(r[4] or ""), quantity=Decimal(str(r[5])),
                current_stock=int(r[6]), reorder_point=float(r[7] or 0),
                unit_cost=None if r[8] is None else Decimal(str(r[8])),
                category=str(r[9] or ""),
            )
            for r in rows
        ]

    def usable_lots(self, drug_id: int, today: date, username: str = "") -> list[dict]:
        """The product's lots a nurse can pick (not destroyed, not expired, in stock), in
        the order the engine takes them (:class:`RemovalStrategy`, sellDrug's order) for
        a seller with ``username``'s default warehouse, each with its warehouse."""
        # the user's default warehouse, as sellDrug reads it, inline: one round trip
        warehouse = ("(SELECT COALESCE(MAX(u.default_warehouse), '') FROM users u "
                     "WHERE u.username = :user)")
        rows = self.connection.execute(
            text(
                "SELECT di.inventory_id, di.lot_number, di.expiration, di.on_hand, "
                "di.warehouse_id, lo.title FROM drug_inventory di "
                "LEFT JOIN list_options lo ON lo.list_id = 'warehouse' "
                "AND lo.option_id = di.warehouse_id AND lo.activity = 1 "
                f"WHERE di.drug_id = :d AND {_USABLE_LOT} "
                f"ORDER BY {RemovalStrategy.order_by_sql(warehouse)}"
            ),
            {"d": drug_id, "today": today, "user": username},
        ).all()
        return [
            {"inventoryId": int(r[0]), "lotNumber": r[1], "expiration":
             r[2].isoformat() if r[2] else None, "onHand": int(r[3]), "warehouse": r[4],
             "warehouseName": r[5] or r[4] or ""}
            for r in rows
        ]

    def product_exists(self, drug_id: int) -> bool:
        return self.connection.execute(
            text("SELECT 1 FROM drugs WHERE drug_id = :d"), {"d": drug_id}
        ).first() is not None
