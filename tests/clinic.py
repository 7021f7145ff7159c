"""The one clinic builder of the tests and the benchmark: seed products, lots, mappings,
visits and billing lines with plain SQL (the way OpenEMR's PHP writes them) and read
back the ledger.

Single rows (``add_drug``, ``add_lot``...) return their ids; the bulk methods
(``add_drugs``, ``add_lots``...) write the same columns for thousands of rows, one
multi-row INSERT per batch, for the benchmark's volumes (``bench/generate.py`` imports
this module as ``tests.clinic``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.engine import Engine

VISIT_DATE = date(2026, 3, 10)
BATCH = 5000  # rows per multi-row INSERT of the bulk methods


class Clinic:
    """Seeds rows in one database; every method commits on its own. ``bulk`` writes
    the same rows by the thousand."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.bulk = BulkRows(engine)

    def _exec(self, sql: str, params: dict | None = None) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(text(sql), params or {})
            return int(result.lastrowid or 0)

    def scalar(self, sql: str, params: dict | None = None):  # type: ignore[no-untyped-def]
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params or {}).scalar()

    def rows(self, sql: str, params: dict | None = None) -> list[tuple]:
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params or {})]

    def add_drug(
        self,
        name: str = "Botox",
        *,
        allow_combining: int = 1,
        dispensable: int = 1,
        reorder_point: float = 0,
        active: int = 1,
    ) -> int:
        """A product (``drugs`` row); a reorder point above 0 makes it an alert candidate."""
        return self._exec(
            "INSERT INTO drugs (name, allow_combining, dispensable, reorder_point, active) "
            "VALUES (:n, :c, :d, :r, :a)",
            {"n": name, "c": allow_combining, "d": dispensable, "r": reorder_point,
             "a": active},
        )

    def add_warehouse(self, option_id: str, seq: int, *, is_default: int = 0) -> None:
        self._exec(
            "INSERT INTO list_options (list_id, option_id, title, seq, activity, is_default) "
            "VALUES ('warehouse', :o, :o, :s, 1, :d)",
            {"o": option_id, "s": seq, "d": is_default},
        )

    def add_lot(
        self,
        drug_id: int,
        on_hand: int,
        *,
        expiration: date | str | None = date(2027, 1, 1),
        lot_number: str | None = None,
        warehouse: str = "onsite",
        destroyed: bool | date = False,
    ) -> int:
        """A lot received by a purchase row, so on_hand + SUM(quantity) = 0 holds. A text
        expiration ('0000-00-00', '2026-02-00') is stored as OpenEMR's PHP stores a blank
        or partial date: under an empty sql_mode. ``destroyed`` is True (destroyed on
        2026-01-01) or the destroy date."""
        with self.engine.begin() as conn:
            if isinstance(expiration, str):
                conn.execute(text("SET SESSION sql_mode = ''"))
            inv = int(conn.execute(
                text(
                    "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                    "warehouse_id, destroy_date) VALUES (:d, :l, :e, :q, :w, :x)"
                ),
                {"d": drug_id, "l": lot_number, "e": expiration, "q": on_hand, "w": warehouse,
                 "x": _destroy_date(destroyed)},
            ).lastrowid)
            if isinstance(expiration, str):
                conn.execute(text("SET SESSION sql_mode = DEFAULT"))
        self._exec(
            "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, trans_type) "
            "VALUES (:d, :i, '2026-01-01', :q, 2)",
            {"d": drug_id, "i": inv, "q": -on_hand},
        )
        return inv

    def receive(self, inventory_id: int, quantity: int) -> None:
        """A purchase into an existing lot."""
        drug_id = self.scalar(
            "SELECT drug_id FROM drug_inventory WHERE inventory_id = :i", {"i": inventory_id}
        )
        self._exec(
            "UPDATE drug_inventory SET on_hand = on_hand + :q WHERE inventory_id = :i",
            {"q": quantity, "i": inventory_id},
        )
        self._exec(
            "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, trans_type) "
            "VALUES (:d, :i, '2026-01-02', :q, 2)",
            {"d": drug_id, "i": inventory_id, "q": -quantity},
        )

    def add_mapping(self, code: str, drug_id: int, quantity: Decimal | str = "1",
                    code_type: str = "CPT4") -> int:
        return self._exec(
            "INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
            "VALUES (:t, :c, :d, :q)",
            {"t": code_type, "c": code, "d": drug_id, "q": quantity},
        )

    def add_user(self, username: str, default_warehouse: str = "") -> int:
        return self._exec(
            "INSERT INTO users (username, default_warehouse) VALUES (:u, :w)",
            {"u": username, "w": default_warehouse},
        )

    def add_visit(self, pid: int, encounter: int, visit_date: date = VISIT_DATE, *,
                  provider_id: int = 0) -> None:
        self._exec(
            "INSERT INTO form_encounter (date, pid, encounter, provider_id) "
            "VALUES (:d, :p, :e, :v)",
            {"d": visit_date, "p": pid, "e": encounter, "v": provider_id},
        )

    def add_patient(self, pid: int, fname: str, lname: str, *, dob: date | None = None,
                    phone_cell: str = "", phone_home: str = "", email: str = "") -> None:
        """A patient_data row (the columns the recall report reads)."""
        self._exec(
            "INSERT INTO patient_data (pid, pubpid, fname, lname, DOB, phone_cell, phone_home, "
            "email) VALUES (:p, :p, :f, :l, :d, :c, :h, :e)",
            {"p": pid, "f": fname, "l": lname, "d": dob, "c": phone_cell, "h": phone_home,
             "e": email},
        )

    def add_provider(self, username: str, fname: str, lname: str) -> int:
        """A users row that can be a visit's provider."""
        return self._exec(
            "INSERT INTO users (username, fname, lname, authorized) VALUES (:u, :f, :l, 1)",
            {"u": username, "f": fname, "l": lname},
        )

    def add_sale(self, drug_id: int, inventory_id: int, quantity: int, *, sale_date: date,
                 pid: int = 0, encounter: int = 0, fee: str = "0", xfer_inventory_id: int = 0,
                 distributor_id: int = 0, trans_type: int = 1, adjust_lot: bool = True) -> int:
        """A drug_sales row as OpenEMR's screens write it (sale, return, transfer,
        adjustment...), taking ``quantity`` from the lot's on_hand (negative: into it)."""
        sale = self._exec(
            "INSERT INTO drug_sales (drug_id, inventory_id, pid, encounter, sale_date, quantity, "
            "fee, xfer_inventory_id, distributor_id, trans_type) "
            "VALUES (:d, :i, :p, :e, :s, :q, :f, :x, :t, :tt)",
            {"d": drug_id, "i": inventory_id, "p": pid, "e": encounter, "s": sale_date,
             "q": quantity, "f": fee, "x": xfer_inventory_id, "t": distributor_id,
             "tt": trans_type},
        )
        if adjust_lot:
            self._exec("UPDATE drug_inventory SET on_hand = on_hand - :q WHERE inventory_id = :i",
                       {"q": quantity, "i": inventory_id})
        return sale

    def add_line(self, pid: int, encounter: int, code: str, units: int = 1, *,
                 user: int | None = None, code_type: str = "CPT4", activity: int = 1) -> int:
        """A billing line as OpenEMR's PHP fee sheet inserts it."""
        return self._exec(
            "INSERT INTO billing (date, code_type, code, pid, provider_id, user, groupname, "
            "authorized, encounter, code_text, billed, activity, units, fee) VALUES "
            "(NOW(), :t, :c, :p, 0, :u, 'Default', 1, :e, '', 0, :a, :n, 0)",
            {"t": code_type, "c": code, "p": pid, "u": user, "e": encounter, "a": activity,
             "n": units},
        )

    def set_global(self, name: str, value: str) -> None:
        """An OpenEMR ``globals`` value (index 0), as the admin screens store it."""
        self._exec(
            "REPLACE INTO globals (gl_name, gl_index, gl_value) VALUES (:n, 0, :v)",
            {"n": name, "v": value},
        )

    def execute(self, sql: str, params: dict | None = None) -> None:
        self._exec(sql, params)

    def php(self, sql: str, params: dict | None = None) -> None:
        """A statement the way OpenEMR's PHP runs it: empty sql_mode (zero dates pass)."""
        with self.engine.begin() as conn:
            conn.execute(text("SET SESSION sql_mode = ''"))
            conn.execute(text(sql), params or {})

    def on_hand(self, inventory_id: int) -> int:
        return int(self.scalar(
            "SELECT on_hand FROM drug_inventory WHERE inventory_id = :i", {"i": inventory_id}
        ))

    def ledgers(self) -> dict[int, int]:
        """on_hand + SUM(drug_sales.quantity) per lot: 0 for every lot when balanced.

        A transfer row (OpenEMR's, trans_type 4) sits on the destination lot with
        ``xfer_inventory_id`` = the source, whose on_hand it reduced: it counts as
        ``-quantity`` on the source."""
        return {
            int(r[0]): int(r[1])
            for r in self.rows(
                "SELECT di.inventory_id, di.on_hand + COALESCE((SELECT SUM(ds.quantity) "
                "FROM drug_sales ds WHERE ds.inventory_id = di.inventory_id), 0) "
                "- COALESCE((SELECT SUM(x.quantity) FROM drug_sales x "
                "WHERE x.xfer_inventory_id = di.inventory_id), 0) "
                "FROM drug_inventory di"
            )
        }

    def stock_ledger(self, inventory_id: int | None = None) -> list[tuple]:
        """The module's movement ledger: (movement, inventory_id, drug_id, quantity,
        reference_type, reference_id, reason), oldest first."""
        return self.rows(
            "SELECT movement, inventory_id, drug_id, quantity, reference_type, reference_id, "
            "reason FROM aesthetic_inventory_stock_ledger "
            "WHERE :i IS NULL OR inventory_id = :i ORDER BY id",
            {"i": inventory_id},
        )

    def stock_ledger_sums(self) -> dict[int, int]:
        """SUM(quantity) of the module's movement ledger per lot."""
        return {int(r[0]): int(r[1]) for r in self.rows(
            "SELECT inventory_id, SUM(quantity) FROM aesthetic_inventory_stock_ledger "
            "GROUP BY inventory_id")}

    def sales(self, inventory_id: int | None = None) -> list[tuple]:
        """drug_sales rows as OpenEMR's reports read them: (sale_id, inventory_id,
        xfer_inventory_id, pid, distributor_id, fee, quantity, trans_type, notes, user)."""
        return self.rows(
            "SELECT sale_id, inventory_id, xfer_inventory_id, pid, distributor_id, fee, "
            "quantity, trans_type, notes, user FROM drug_sales "
            "WHERE :i IS NULL OR inventory_id = :i OR xfer_inventory_id = :i ORDER BY sale_id",
            {"i": inventory_id},
        )

    def auto_rows(self, pid: int, encounter: int) -> list[tuple]:
        """(selector, inventory_id, quantity, user, sale_date, fee, trans_type, billed)."""
        return self.rows(
            "SELECT selector, inventory_id, quantity, user, sale_date, fee, trans_type, billed "
            "FROM drug_sales WHERE pid = :p AND encounter = :e AND selector LIKE 'AUTO_PROC:%' "
            "ORDER BY sale_id",
            {"p": pid, "e": encounter},
        )

    def held(self, pid: int, encounter: int) -> int:
        return int(self.scalar(
            "SELECT COALESCE(SUM(quantity), 0) FROM drug_sales WHERE pid = :p AND encounter = :e "
            "AND selector LIKE 'AUTO_PROC:%'",
            {"p": pid, "e": encounter},
        ))

    def usage(self, pid: int, encounter: int) -> list[tuple]:
        """(mapping_id, planned, required, allocated, shortage)."""
        return self.rows(
            "SELECT mapping_id, planned_quantity, required_units, allocated_units, shortage_units "
            "FROM aesthetic_inventory_usage WHERE pid = :p AND encounter = :e ORDER BY mapping_id",
            {"p": pid, "e": encounter},
        )

    # -- OpenEMR's own writes (no @aesthetic_inventory_writer on the session) ---------

    def as_openemr(self, sql: str, params: dict | None = None) -> int:
        """Run one write the way OpenEMR's PHP does: on a session that is not marked as the
        module's, so the module's drug_sales triggers see it as a host edit."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("SET @aesthetic_inventory_writer = NULL")
            try:
                result = conn.execute(text(sql), params or {})
            finally:
                conn.exec_driver_sql("SET @aesthetic_inventory_writer = 1")
            return int(result.lastrowid or result.rowcount or 0)

    def fee_sheet_set_quantity(self, sale_id: int, units: int) -> None:
        """OpenEMR's FeeSheet::save for a changed product line quantity: the sale row's
        quantity, then the lot's on_hand by the difference (one transaction here)."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("SET @aesthetic_inventory_writer = NULL")
            try:
                old, inv = conn.execute(
                    text("SELECT quantity, inventory_id FROM drug_sales WHERE sale_id = :s"),
                    {"s": sale_id},
                ).one()
                conn.execute(text("UPDATE drug_sales SET quantity = :q WHERE sale_id = :s"),
                             {"q": units, "s": sale_id})
                if inv:
                    conn.execute(
                        text("UPDATE drug_inventory SET on_hand = on_hand - :d "
                             "WHERE inventory_id = :i"),
                        {"d": units - old, "i": inv},
                    )
            finally:
                conn.exec_driver_sql("SET @aesthetic_inventory_writer = 1")

    def fee_sheet_delete(self, sale_id: int) -> None:
        """OpenEMR's FeeSheet::save for a deleted product line: delete the sale and give
        its quantity back to the lot."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("SET @aesthetic_inventory_writer = NULL")
            try:
                qty, inv = conn.execute(
                    text("SELECT quantity, inventory_id FROM drug_sales WHERE sale_id = :s"),
                    {"s": sale_id},
                ).one()
                conn.execute(text("DELETE FROM drug_sales WHERE sale_id = :s"), {"s": sale_id})
                if inv:
                    conn.execute(
                        text("UPDATE drug_inventory SET on_hand = on_hand + :q "
                             "WHERE inventory_id = :i"),
                        {"q": qty, "i": inv},
                    )
            finally:
                conn.exec_driver_sql("SET @aesthetic_inventory_writer = 1")

    def auto_sale_ids(self, pid: int, encounter: int) -> list[int]:
        return [int(r[0]) for r in self.rows(
            "SELECT sale_id FROM drug_sales WHERE pid = :p AND encounter = :e "
            "AND selector LIKE 'AUTO_PROC:%' ORDER BY sale_id", {"p": pid, "e": encounter})]

    # --- OpenEMR users and access control (web / ACL) ---------------------------------

    def install_default_acl(self) -> dict[str, int]:
        """OpenEMR's default groups and ACLs, as its installer writes them (real schema)."""
        from openemr_acl import install_default_acl

        with self.engine.begin() as conn:
            return install_default_acl(conn)

    def add_openemr_user(
        self, username: str, groups: list[str], *, password: str | None = "pass",
        active: int = 1, fname: str = "Test", lname: str | None = None,
        password_hash: str | None = None,
    ) -> int:
        """A user the way OpenEMR's user admin creates one: ``users`` (password
        'NoLongerUsed'), ``users_secure`` (PHP ``password_hash`` = bcrypt ``$2y$``) and
        the ARO in ``groups`` (group values: admin, doc, clin, front, back, breakglass)."""
        import bcrypt
        from openemr_acl import set_user_aro

        if password_hash is None and password is not None:
            # PHP's password_hash(PASSWORD_DEFAULT) writes $2y$ with cost 10.
            raw = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()
            password_hash = "$2y$" + raw[4:]
        lname = lname if lname is not None else username
        with self.engine.begin() as conn:
            uid = int(conn.execute(
                text("INSERT INTO users (username, password, authorized, fname, lname, active) "
                     "VALUES (:u, 'NoLongerUsed', 1, :f, :l, :a)"),
                {"u": username, "f": fname, "l": lname, "a": active},
            ).lastrowid)
            conn.execute(
                text("INSERT INTO users_secure (id, username, password, last_update_password) "
                     "VALUES (:i, :u, :p, NOW())"),
                {"i": uid, "u": username, "p": password_hash},
            )
            set_user_aro(conn, username, f"{fname} {lname}", groups)
        return uid

def _destroy_date(destroyed: bool | date) -> date | None:
    if isinstance(destroyed, date):
        return destroyed
    return date(2026, 1, 1) if destroyed else None


class BulkRows:
    """The bulk half of the builder: rows as tuples, written in batches."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        """``sql`` with driver placeholders (``%s``) for every row; PyMySQL folds each
        batch of an ``INSERT ... VALUES`` executemany into one multi-row statement."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            for start in range(0, len(rows), BATCH):
                cur.executemany(sql, rows[start : start + BATCH])
            raw.commit()
        finally:
            raw.close()

    def add_warehouses(self, rows: Sequence[tuple[str, str, int]]) -> None:
        """(option_id, title, seq) warehouses; existing ones are kept."""
        self.insert_many(
            "INSERT IGNORE INTO list_options (list_id, option_id, title, seq) "
            "VALUES ('warehouse', %s, %s, %s)",
            rows,
        )

    def add_drugs(self, rows: Sequence[tuple[str, float, float, int, int, int]]) -> None:
        """(name, reorder_point, max_level, allow_combining, dispensable, active) products."""
        self.insert_many(
            "INSERT INTO drugs (name, reorder_point, max_level, allow_combining, dispensable, "
            "active) VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )

    def add_lots(
        self, rows: Sequence[tuple[int, str, date, int, str, date | None]], *, received: date
    ) -> None:
        """(drug_id, lot_number, expiration, on_hand, warehouse, destroy_date) lots, each
        with a purchase row dated ``received`` (so on_hand + SUM(quantity) = 0 holds)."""
        with self.engine.connect() as conn:
            before = int(conn.execute(
                text("SELECT COALESCE(MAX(inventory_id), 0) FROM drug_inventory")
            ).scalar_one())
        self.insert_many(
            "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, warehouse_id, "
            "destroy_date) VALUES (%s, %s, %s, %s, %s, %s)",
            rows,
        )
        with self.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO drug_sales (drug_id, inventory_id, sale_date, quantity, fee, "
                    "user, trans_type, notes) SELECT drug_id, inventory_id, :d, -on_hand, 0, "
                    "'admin', 2, 'bench receipt' FROM drug_inventory "
                    "WHERE inventory_id > :before AND on_hand > 0"
                ),
                {"d": received, "before": before},
            )

    def add_mappings(self, rows: Sequence[tuple[str, str, int, float]]) -> None:
        """(code_type, code, drug_id, quantity per unit) procedure-product mappings."""
        self.insert_many(
            "INSERT INTO procedure_products (code_type, code, drug_id, quantity) "
            "VALUES (%s, %s, %s, %s)",
            rows,
        )

    def add_codes(self, rows: Sequence[tuple[str, str, int, float]]) -> None:
        """(code, code_text, code_type id, fee) rows of ``codes``."""
        self.insert_many(
            "INSERT INTO codes (code, code_text, code_type, fee) VALUES (%s, %s, %s, %s)", rows
        )

    def add_visits(
        self,
        visits: Sequence[tuple[datetime, int, int, str]],
        lines: Sequence[tuple[datetime, str, str, int, int, int, int, int]],
    ) -> None:
        """(date, pid, encounter, reason) visits and their (date, code_type, code, pid,
        encounter, units, activity, billed) billing lines."""
        self.insert_many(
            "INSERT INTO form_encounter (date, pid, encounter, reason) VALUES (%s, %s, %s, %s)",
            visits,
        )
        self.insert_many(
            "INSERT INTO billing (date, code_type, code, pid, encounter, units, activity, "
            "billed, authorized, fee) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 1, 100)",
            lines,
        )

    def ledger_report(self) -> tuple[int, int, int]:
        """(lots out of balance, units oversold, lots below zero) over lots with receipts.

        A lot balances when ``on_hand + SUM(drug_sales.quantity) = 0``; stock below
        zero counts as oversold units."""
        with self.engine.connect() as conn:
            unbalanced = int(conn.execute(text(
                "SELECT COUNT(*) FROM drug_inventory AS di JOIN (SELECT inventory_id, "
                "SUM(quantity) AS total, SUM(trans_type = 2) AS receipts FROM drug_sales "
                "GROUP BY inventory_id) AS s ON s.inventory_id = di.inventory_id "
                "WHERE s.receipts > 0 AND di.on_hand + s.total <> 0"
            )).scalar_one())
            oversold, negative = conn.execute(text(
                "SELECT COALESCE(SUM(-on_hand), 0), COUNT(*) FROM drug_inventory WHERE on_hand < 0"
            )).one()
        return unbalanced, int(oversold), int(negative)
