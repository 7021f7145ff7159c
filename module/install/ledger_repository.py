"""The SQL of the ledger seal (:mod:`.ledger_seal`): segment digests of
``aesthetic_inventory_stock_ledger`` computed in the server, and the seal rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from ..db import existing_tables
from ..stock.triggers import LEDGER_TABLE, SEAL_TABLE

# One SHA-256 per ledger row over every column; a segment's digest is the XOR of the
# rows' hashes (two 64-bit halves each), so the server computes it in one range scan.
_ROW_HASH = (
    "SHA2(CONCAT_WS('|', id, movement, inventory_id, drug_id, quantity, unit_cost, "
    "reference_type, reference_id, IFNULL(sale_id, ''), reason, user, notes, created_at), 256)"
)


@dataclass(frozen=True)
class Segment:
    """Ledger rows with id in (after_id, through_id]: how many, and their digest."""

    rows: int
    digest: str


@dataclass(frozen=True)
class Seal:
    """One checkpoint of the chain."""

    id: int
    through_id: int
    row_count: int
    digest: str
    chain: str


class LedgerSealRepository:
    """Reads of the ledger and of the seal table; the one INSERT of a seal."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def installed(self) -> bool:
        """Whether both the ledger and the seal table exist."""
        return len(existing_tables(self.conn, [LEDGER_TABLE, SEAL_TABLE])) == 2

    def seals(self) -> list[Seal]:
        """Every seal, oldest first."""
        rows = self.conn.execute(text(
            f"SELECT id, through_id, row_count, digest, chain FROM {SEAL_TABLE} ORDER BY id"))
        return [Seal(int(r[0]), int(r[1]), int(r[2]), str(r[3]), str(r[4])) for r in rows]

    def segment(self, after_id: int, through_id: int) -> Segment:
        """Count and digest of the ledger rows with id in (after_id, through_id]."""
        row = self.conn.execute(text(
            "SELECT COUNT(*), COALESCE(LPAD(HEX(BIT_XOR(CAST(CONV(LEFT(h, 16), 16, 10) "
            "AS UNSIGNED))), 16, '0'), ''), COALESCE(LPAD(HEX(BIT_XOR(CAST(CONV("
            "SUBSTRING(h, 17, 16), 16, 10) AS UNSIGNED))), 16, '0'), '') "
            f"FROM (SELECT {_ROW_HASH} h FROM {LEDGER_TABLE} "
            "WHERE id > :a AND id <= :b) t"), {"a": after_id, "b": through_id}).one()
        return Segment(int(row[0]), (str(row[1]) + str(row[2])).lower())

    def sealable_through(self, margin_seconds: int) -> int:
        """The highest ledger id older than the margin (0 for none): a younger row's
        transaction may still be open, and a lower id could commit after it."""
        value = self.conn.execute(text(
            f"SELECT COALESCE(MAX(id), 0) FROM {LEDGER_TABLE} "
            "WHERE created_at <= NOW(6) - INTERVAL :m SECOND"), {"m": margin_seconds}).scalar()
        return int(value or 0)

    def last_ledger_id(self) -> int:
        """The ledger's highest id (0 when empty)."""
        return int(self.conn.execute(
            text(f"SELECT COALESCE(MAX(id), 0) FROM {LEDGER_TABLE}")).scalar() or 0)

    def insert_seal(self, through_id: int, row_count: int, digest: str, chain: str,
                    sealed_by: str) -> None:
        """Append one seal."""
        self.conn.execute(text(
            f"INSERT INTO {SEAL_TABLE} (through_id, row_count, digest, chain, sealed_by) "
            "VALUES (:t, :n, :d, :c, :u)"),
            {"t": through_id, "n": row_count, "d": digest, "c": chain, "u": sealed_by})

    def lock(self, name: str) -> bool:
        """Take a named lock without waiting (False when another session holds it)."""
        return bool(self.conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": name}).scalar())

    def unlock(self, name: str) -> None:
        self.conn.execute(text("SELECT RELEASE_LOCK(:n)"), {"n": name})
