"""A fee-sheet save plans its container draws on one unlocked read, and the lot UPDATE
(which locks the lots) and the draw INSERT check that read. Another save changing the
stock between the read and the UPDATE is caught either way: a lot that moved makes the
reconcile lock and plan again; a vial that was drawn while its lot ended up where it
was (a draw, then an edit of the lot putting the units back) makes the draw INSERT
refuse, and the whole transaction runs again. No vial is ever over-drawn."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import pytest
from aesthetic_inventory.consumption.containers import service
from aesthetic_inventory.consumption.containers.repository import ContainerRepository
from aesthetic_inventory.consumption.service import reconcile_visit
from aesthetic_inventory.unit_of_work import UnitOfWork
from clinic import Clinic
from sqlalchemy import event
from sqlalchemy.engine import Engine

TODAY = date.today()
NOW = datetime.now().replace(microsecond=0)


def _toxin(clinic: Clinic) -> int:
    drug = clinic.add_drug("Botox")
    clinic.execute(
        "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
        "counting_unit, beyond_use_hours) VALUES (:d, 100, 'U', 24)", {"d": drug})
    clinic.add_mapping("64612", drug, "20")
    clinic.add_visit(1, 1, TODAY)
    clinic.add_line(1, 1, "64612")
    return drug


def _drawn(clinic: Clinic, pid: int | None = None) -> dict[int, int]:
    return {int(k): int(v) for k, v in clinic.rows(
        "SELECT container_id, SUM(units) FROM aesthetic_inventory_container_draw "
        "WHERE :p IS NULL OR pid = :p GROUP BY container_id", {"p": pid})}


def _between_read_and_lock(monkeypatch: pytest.MonkeyPatch,
                           change: Callable[[], None]) -> list[bool]:
    """Run ``change`` (committed on its own connection) right after the reconcile's
    first unlocked read of lots and containers; returns the ``lock`` flag of every read."""
    reads: list[bool] = []
    original = ContainerRepository.lots_and_open

    def read(self: ContainerRepository, *args: Any, **kwargs: Any) -> Any:
        out = original(self, *args, **kwargs)
        reads.append(bool(kwargs.get("lock")))
        if len(reads) == 1:
            change()
        return out

    monkeypatch.setattr(ContainerRepository, "lots_and_open", read)
    return reads


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: seen.append(sql.split()[0].upper()))
    return seen


def test_an_undisturbed_save_locks_nothing_before_its_lot_update(
        clinic: Clinic, migrated_engine: Engine) -> None:
    drug = _toxin(clinic)
    lot = clinic.add_lot(drug, 200)
    seen = _statements(migrated_engine)
    reconcile_visit(UnitOfWork(migrated_engine), 1, 1, service_username="svc")
    statements = list(seen)
    assert clinic.on_hand(lot) == 180 and list(_drawn(clinic).values()) == [20]
    # visit lock, facts, the one stock read, the checked lot UPDATE, the sale, the vial,
    # its draw (whose trigger writes the sale's ledger row), the usage record: as many
    # statements as a plain product's save plus the vial
    assert statements == ["SELECT", "SELECT", "SELECT", "UPDATE", "INSERT", "INSERT", "INSERT",
                          "INSERT"]
    assert clinic.stock_ledger_sums() == {lot: -20}  # the ISSUE of the 20 U, once


def test_a_lot_moved_meanwhile_is_locked_and_planned_again(
        clinic: Clinic, migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    drug = _toxin(clinic)
    lot = clinic.add_lot(drug, 200)
    factory = lambda: UnitOfWork(migrated_engine)  # noqa: E731
    # a training opens a vial and takes 90 U of it after the save read the lot
    reads = _between_read_and_lock(monkeypatch, lambda: service.use(
        factory, drug, 90, "training", user="nurse", now=NOW))
    reconcile_visit(factory(), 1, 1, service_username="svc")
    # the lot still covers the take, so its checked UPDATE passes (the engine's bounds);
    # the draw INSERT finds the vial the training opened meanwhile, and the save runs
    # again on a fresh read
    assert reads == [False, False]
    (first, *_), mine = sorted(_drawn(clinic)), _drawn(clinic, pid=1)
    # the visit took the training vial's last 10 U, then opened the next vial
    assert mine[first] == 10 and sum(mine.values()) == 20 and len(mine) == 2
    boxes = clinic.rows("SELECT id, units FROM aesthetic_inventory_container")
    assert all(_drawn(clinic)[cid] <= units for cid, units in boxes)
    assert clinic.on_hand(lot) == 200 - 90 - 20
    assert all(v == 0 for v in clinic.ledgers().values())


def test_a_vial_drawn_while_its_lot_came_back_is_caught_by_the_draw_insert(
        clinic: Clinic, migrated_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    drug = _toxin(clinic)
    lot = clinic.add_lot(drug, 200)
    factory = lambda: UnitOfWork(migrated_engine)  # noqa: E731
    service.use(factory, drug, 70, "training", user="nurse", now=NOW)  # vial: 30 U left
    (vial,) = _drawn(clinic)

    def draw_then_restock() -> None:
        service.use(factory, drug, 25, "demo", user="nurse", now=NOW)  # vial: 5 U left
        # the lot screen puts 25 U back: on_hand is what the save read, the vial is not
        clinic.execute("UPDATE drug_inventory SET on_hand = on_hand + 25 "
                       "WHERE inventory_id = :i", {"i": lot})

    reads = _between_read_and_lock(monkeypatch, draw_then_restock)
    reconcile_visit(factory(), 1, 1, service_username="svc")
    # the first attempt's draw INSERT refused (StaleReadError), the retry read again
    assert reads == [False, False]
    mine = _drawn(clinic, pid=1)
    assert mine[vial] == 5 and sum(mine.values()) == 20 and len(mine) == 2
    boxes = clinic.rows("SELECT id, units FROM aesthetic_inventory_container")
    assert all(_drawn(clinic)[cid] <= units for cid, units in boxes)
    assert clinic.held(1, 1) == 20
