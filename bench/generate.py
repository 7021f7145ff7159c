"""Clinic generator: a realistic aesthetic clinic on the OpenEMR fixture schema.

This module decides what a realistic clinic holds (random but seeded); the rows are
written by the tests' clinic builder (``tests/clinic.py``, its bulk methods: batched
multi-row inserts), so the full scale (10k products, 200k lots, 100k visits) loads in
tens of seconds, not hours, with the same columns the tests seed.

Every lot's stock arrives through a purchase row in ``drug_sales`` (trans_type 2,
negative quantity), so the ledger invariant ``on_hand + SUM(quantity) = 0`` holds
from the start and the benchmarks and stress tests can check it afterwards.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from tests.clinic import BulkRows

# Warehouses: the fixture already has 'onsite' (seq 5); two more with higher seqs.
WAREHOUSES: tuple[tuple[str, str, int], ...] = (
    ("onsite", "On Site", 5),
    ("main", "Main Store", 10),
    ("annex", "Annex", 20),
)

# Codes billed but never mapped (office visits), so visits mix mapped/unmapped lines.
UNMAPPED_CODES = ("99212", "99213", "99214", "99203")


@dataclass(frozen=True)
class Scale:
    """Sizes of a generated clinic."""

    name: str
    products: int
    lots: int
    visits: int
    mappings: int

    @staticmethod
    def named(name: str) -> Scale:
        """The two standard scales of the issue: ``full`` and ``quick`` (a tenth)."""
        if name == "full":
            return Scale("full", products=10_000, lots=200_000, visits=100_000, mappings=5_000)
        if name == "quick":
            return Scale("quick", products=1_000, lots=20_000, visits=10_000, mappings=500)
        if name == "tiny":
            return Scale("tiny", products=60, lots=600, visits=300, mappings=40)
        raise ValueError(f"unknown scale {name!r} (quick, full or tiny)")


@dataclass
class GeneratedClinic:
    """What the generator created, for the benchmarks to aim at."""

    scale: Scale
    today: date
    product_ids: list[int] = field(default_factory=list)
    mapped_codes: list[str] = field(default_factory=list)
    visits: list[tuple[int, int]] = field(default_factory=list)  # (pid, encounter)
    next_encounter: int = 0


def generate_clinic(
    engine: Engine,
    scale: Scale,
    *,
    seed: int = 518,
    today: date | None = None,
) -> GeneratedClinic:
    """Fill a migrated fixture database with a clinic of the given scale."""
    rng = random.Random(seed)
    today = today or date.today()
    clinic = GeneratedClinic(scale=scale, today=today)
    rows = BulkRows(engine)
    rows.add_warehouses(WAREHOUSES)
    # Products.
    drug_rows = []
    for i in range(scale.products):
        combining = 1 if rng.random() < 0.9 else 0
        dispensable = 0 if rng.random() < 0.02 else 1
        reorder = rng.choice((0, 0, 5, 10, 20, 50))
        drug_rows.append((f"Product {i:05d}", reorder, reorder * 4, combining, dispensable, 1))
    rows.add_drugs(drug_rows)
    with engine.connect() as conn:
        all_ids = [int(r[0]) for r in conn.execute(
            text("SELECT drug_id FROM drugs ORDER BY drug_id")
        )]
    clinic.product_ids = all_ids[: scale.products]

    # Lots, spread over warehouses and expiries; a few destroyed; each with a receipt.
    lot_rows: list[tuple[Any, ...]] = []
    for n in range(scale.lots):
        drug_id = clinic.product_ids[n % len(clinic.product_ids)]
        roll = rng.random()
        if roll < 0.05:
            expiration = today - timedelta(days=rng.randint(1, 200))  # expired
        elif roll < 0.15:
            expiration = today + timedelta(days=rng.randint(0, 30))  # expiring soon
        else:
            expiration = today + timedelta(days=rng.randint(31, 1000))
        destroyed = today - timedelta(days=rng.randint(1, 90)) if rng.random() < 0.03 else None
        on_hand = 0 if destroyed else rng.randint(1, 60)
        lot_rows.append(
            (drug_id, f"L{n:07d}", expiration, on_hand, rng.choice(WAREHOUSES)[0], destroyed)
        )
    rows.add_lots(lot_rows, received=today - timedelta(days=400))

    # Codes and mappings: codes P00000.. each mapped to one to three products.
    codes_count = max(1, scale.mappings * 2 // 3)
    codes = [f"P{i:05d}" for i in range(codes_count)]
    mapping_rows: list[tuple[Any, ...]] = []
    seen: set[tuple[str, int]] = set()
    while len(mapping_rows) < scale.mappings:
        n = len(mapping_rows)
        code = codes[n] if n < codes_count else rng.choice(codes)
        drug_id = rng.choice(clinic.product_ids)
        if (code, drug_id) in seen:
            continue
        seen.add((code, drug_id))
        mapping_rows.append(("CPT4", code, drug_id, rng.choice((1, 1, 1, 2, 0.5))))
    rows.add_mappings(mapping_rows)
    clinic.mapped_codes = codes
    code_rows = [(c, f"Aesthetic procedure {c}", 1, 100) for c in codes]
    code_rows += [(c, f"Office visit {c}", 1, 80) for c in UNMAPPED_CODES]
    rows.add_codes(code_rows)

    # Visits over the last year with 1-8 billing lines each.
    enc_rows: list[tuple[Any, ...]] = []
    bill_rows: list[tuple[Any, ...]] = []
    for v in range(scale.visits):
        pid = 1 + v % max(1, scale.visits // 4)
        encounter = 100_000 + v
        day = today - timedelta(days=rng.randint(0, 364))
        when = datetime.combine(day, datetime.min.time()).replace(hour=rng.randint(8, 17))
        enc_rows.append((when, pid, encounter, "Aesthetic visit"))
        clinic.visits.append((pid, encounter))
        for _ in range(rng.randint(1, 8)):
            code = rng.choice(UNMAPPED_CODES) if rng.random() < 0.25 else rng.choice(codes)
            bill_rows.append((when, "CPT4", code, pid, encounter, rng.randint(1, 3), 1, 0))
    clinic.next_encounter = 100_000 + scale.visits
    rows.add_visits(enc_rows, bill_rows)
    with engine.connect() as conn:
        conn.exec_driver_sql(
            "ANALYZE TABLE drugs, drug_inventory, drug_sales, billing, form_encounter"
        ).all()
    return clinic


def add_stocked_products(
    engine: Engine,
    clinic: GeneratedClinic,
    prefix: str,
    *,
    products: int,
    lots_per_product: int,
    lot_size: int,
    quantity_per_unit: float = 1,
    allow_combining: bool = True,
) -> list[str]:
    """Add products with many equal lots (with purchase receipts), each mapped to its
    own code ``<prefix><n>``; returns the codes.

    Small lots make one billing line allocate from several lots, which is the case
    the latency benchmark is about; few units make the stress runs fight for stock.
    """
    rows = BulkRows(engine)
    codes = [f"{prefix}{i}" for i in range(products)]
    rows.add_drugs([(f"Bench {code}", 0, 0, 1 if allow_combining else 0, 1, 1) for code in codes])
    with engine.connect() as conn:
        ids = dict(conn.execute(
            text("SELECT name, drug_id FROM drugs WHERE name LIKE :p"),
            {"p": f"Bench {prefix}%"},
        ).all())
    rows.add_lots(
        [
            (ids[f"Bench {code}"], f"{code}-{k:04d}", clinic.today + timedelta(days=60 + k),
             lot_size, WAREHOUSES[k % len(WAREHOUSES)][0], None)
            for code in codes
            for k in range(lots_per_product)
        ],
        received=clinic.today - timedelta(days=30),
    )
    rows.add_mappings([("CPT4", code, ids[f"Bench {code}"], quantity_per_unit) for code in codes])
    rows.add_codes([(code, f"Bench procedure {code}", 1, 100) for code in codes])
    return codes


def add_visits(
    engine: Engine,
    clinic: GeneratedClinic,
    visits: Sequence[Sequence[tuple[str, int]]],
    *,
    pid_base: int = 900_000,
) -> list[tuple[int, int]]:
    """Create visits today, each with its (code, units) billing lines, in two batches."""
    when = datetime.combine(clinic.today, datetime.min.time()).replace(hour=10)
    keys: list[tuple[int, int]] = []
    enc_rows: list[tuple[Any, ...]] = []
    bill_rows: list[tuple[Any, ...]] = []
    for n, lines in enumerate(visits):
        pid, encounter = pid_base + n, clinic.next_encounter
        clinic.next_encounter += 1
        keys.append((pid, encounter))
        enc_rows.append((when, pid, encounter, "bench visit"))
        bill_rows += [(when, "CPT4", code, pid, encounter, units, 1, 0) for code, units in lines]
    BulkRows(engine).add_visits(enc_rows, bill_rows)
    return keys


def ledger_report(engine: Engine) -> tuple[int, int, int]:
    """(lots out of balance, units oversold, lots below zero) over lots with receipts."""
    return BulkRows(engine).ledger_report()
