"""``products convert``: a product with history turns into counting units in one
transaction; every lot balances, the module ledger scales, OpenEMR's Inventory Activity
report shows the same history in units; refused while a visit is queued; a dry run
writes nothing."""

from __future__ import annotations

from datetime import date

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.cli.containers_cmds import convert_cmd
from aesthetic_inventory.consumption.containers.convert import convert
from aesthetic_inventory.consumption.containers.domain import ContainerInputError
from aesthetic_inventory.reports import service as reports
from aesthetic_inventory.stock import service as stock
from aesthetic_inventory.unit_of_work import UnitOfWork
from click.testing import CliRunner
from clinic import VISIT_DATE, Clinic
from sqlalchemy.engine import Engine

N = 100


def _factory(engine: Engine):  # type: ignore[no-untyped-def]
    return lambda: UnitOfWork(engine)


def _history(clinic: Clinic, engine: Engine, url: str) -> tuple[int, int]:
    """Botox in vials: 3 received, one visit billed 2 vials (the engine deducts it),
    one adjusted away."""
    drug = clinic.add_drug("Botox")
    lot = clinic.add_lot(drug, 3, lot_number="V1")
    clinic.add_mapping("64612", drug, "2")
    clinic.add_visit(1, 11)
    clinic.add_line(1, 11, "64612")
    synced = CliRunner().invoke(main, ["--database-url", url, "sync"])
    assert synced.exit_code == 0, synced.output
    stock.adjust(_factory(engine), lot, -1, "DAMAGED", user="admin", today=VISIT_DATE)
    clinic.receive(lot, 2)
    return drug, lot


def _snapshot(clinic: Clinic, engine: Engine, drug: int) -> dict[str, object]:
    with reports.read_only(engine) as repo:
        activity = reports.activity_rows(repo, start=date(2025, 1, 1), end=date(2030, 1, 1),
                                         product=drug)
    return {
        "activity": [(a.start, a.sales, a.distributions, a.purchases, a.transfers,
                      a.adjustments, a.end) for a in activity],
        "on_hand": clinic.rows("SELECT inventory_id, on_hand FROM drug_inventory "
                               "ORDER BY inventory_id"),
        "ledger": clinic.stock_ledger_sums(),
        "usage": clinic.rows("SELECT planned_quantity, required_units, allocated_units, "
                             "shortage_units FROM aesthetic_inventory_usage"),
        "mapping": clinic.scalar("SELECT quantity FROM procedure_products"),
    }


def test_convert_keeps_every_ledger_balanced_and_the_activity_report_in_units(
        clinic: Clinic, migrated_engine: Engine, migrated_db_url: str) -> None:
    drug, lot = _history(clinic, migrated_engine, migrated_db_url)
    before = _snapshot(clinic, migrated_engine, drug)
    assert before["on_hand"] == [(lot, 2)]
    # sold 2 to the visit; 3 + 2 received without a fee and 1 adjusted away are
    # adjustments in OpenEMR's report (signed into the lot)
    assert before["activity"] == [(0, -2, 0, 0, 0, 4, 2)]
    dry = convert(_factory(migrated_engine), drug, N, unit="U", user="admin", dry_run=True)
    assert dry.dry_run and dry.lots == {lot: (2, 200)}
    assert _snapshot(clinic, migrated_engine, drug) == before  # nothing written

    result = convert(_factory(migrated_engine), drug, N, unit="U", package_unit="vial",
                     user="admin")
    after = _snapshot(clinic, migrated_engine, drug)
    assert result.rows["drug_sales"] == 4 and result.rows["procedure_products"] == 1
    assert after["on_hand"] == [(lot, 200)]
    assert all(v == 0 for v in clinic.ledgers().values())
    assert after["ledger"] == {k: v * N for k, v in before["ledger"].items()}  # type: ignore[attr-defined]
    assert after["activity"] == [tuple(x * N for x in row) for row in before["activity"]]  # type: ignore[attr-defined]
    assert after["usage"] == [(p * N, r * N, a * N, s * N)
                              for p, r, a, s in before["usage"]]  # type: ignore[attr-defined]
    assert after["mapping"] == before["mapping"] * N  # type: ignore[operator]
    assert clinic.rows("SELECT units_per_package, counting_unit, package_unit FROM "
                       "aesthetic_inventory_product_stock WHERE drug_id = :d",
                       {"d": drug}) == [(N, "U", "vial")]
    with pytest.raises(ContainerInputError, match="already counted in U"):
        convert(_factory(migrated_engine), drug, N, user="admin")


def test_convert_refused_while_a_visit_is_queued(clinic: Clinic, migrated_engine: Engine,
                                                 migrated_db_url: str) -> None:
    drug, lot = _history(clinic, migrated_engine, migrated_db_url)
    clinic.execute("INSERT INTO aesthetic_inventory_change_queue (pid, encounter, queued_at) "
                   "VALUES (1, 11, NOW(6))")
    with pytest.raises(ContainerInputError, match="1 visit\\(s\\) of product .* queued"):
        convert(_factory(migrated_engine), drug, N, user="admin")
    assert clinic.on_hand(lot) == 2
    out = CliRunner().invoke(main, ["--database-url", migrated_db_url, "containers"])
    assert out.exit_code == 0 and "no open containers" in out.output
    # the command (to join the products group): one line, exit 1, nothing changed
    cli = CliRunner().invoke(main, ["--database-url", migrated_db_url, "use", "--product",
                                    str(drug), "--quantity", "99", "--reason", "demo"])
    assert cli.exit_code == 1 and "cannot use 99" in cli.output
    assert "Traceback" not in cli.output
    assert convert_cmd.name == "convert"
