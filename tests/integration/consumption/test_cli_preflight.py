"""consume/sync refuse to move stock on an unmigrated database or MyISAM stock tables."""

from __future__ import annotations

from aesthetic_inventory.cli import main
from click.testing import CliRunner
from clinic import Clinic
from sqlalchemy.engine import Engine


def test_unmigrated_database_is_refused(engine: Engine, fixture_db_url: str) -> None:
    result = CliRunner().invoke(
        main, ["--database-url", fixture_db_url, "consume", "--pid", "1", "--encounter", "1"]
    )
    assert result.exit_code == 1
    assert "run 'aesthetic-inventory migrate'" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_myisam_stock_table_is_refused_and_nothing_moves(
    clinic: Clinic, migrated_db_url: str
) -> None:
    drug = clinic.add_drug("Botox")
    lot = clinic.add_lot(drug, 5)
    clinic.add_mapping("15828", drug)
    clinic.add_visit(1, 100)
    clinic.add_line(1, 100, "15828", 2)
    clinic.execute("ALTER TABLE drug_sales ENGINE=MyISAM")
    result = CliRunner().invoke(main, ["--database-url", migrated_db_url, "sync"])
    assert result.exit_code == 1 and "InnoDB" in result.output
    assert clinic.on_hand(lot) == 5


def test_consume_rejects_non_numeric_pid(migrated_db_url: str) -> None:
    result = CliRunner().invoke(
        main, ["--database-url", migrated_db_url, "consume", "--pid", "x", "--encounter", "1"]
    )
    assert result.exit_code == 2
