"""``alerts run`` and ``alerts install-bridge`` through the CLI."""

from __future__ import annotations

import json

import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.db import create_db_engine
from click.testing import CliRunner
from dbtools import count_rows as count
from sqlalchemy import text

pytestmark = pytest.mark.e2e


def run(*args: str, **env: str) -> tuple[int, str, str]:
    environ: dict[str, str | None] = {"AESTHETIC_INVENTORY_DATABASE_URL": None}
    environ.update({f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in env.items()})
    result = CliRunner().invoke(main, list(args), env=environ)
    return result.exit_code, result.stdout, result.stderr


def seed(url: str) -> None:
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO drugs (name, reorder_point, active) VALUES ('Botox', 5, 1)")
            )
    finally:
        engine.dispose()


def test_alerts_run_dry_run_json_then_real(migrated_db_url: str) -> None:
    seed(migrated_db_url)
    code, out, _ = run("--database-url", migrated_db_url, "alerts", "run", "--dry-run", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["dry_run"] is True and data["notified"] == 1
    assert data["digest"]["items"][0]["kind"] == "out_of_stock"
    assert count(migrated_db_url, "SELECT COUNT(*) FROM aesthetic_inventory_outbox") == 0

    code, out, _ = run("--database-url", migrated_db_url, "alerts", "run")
    assert code == 0
    assert "1 item(s) need attention; 1 notified (1 new, 0 reminder(s))" in out
    assert "== Out of stock (1) ==" in out
    assert "via crm: notification_log" in out
    assert count(migrated_db_url, "SELECT COUNT(*) FROM notification_log") == 1

    code, out, _ = run("--database-url", migrated_db_url, "alerts", "run")
    assert code == 0 and "0 notified" in out
    assert count(migrated_db_url, "SELECT COUNT(*) FROM notification_log") == 1


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"channels": "crm,sms"}, "unknown channel 'sms'"),
        ({"channels": "email", "smtp_port": "abc"}, "SMTP_PORT must be a whole number"),
        ({"channels": "webhook"}, "WEBHOOK_URL"),
    ],
)
def test_bad_setting_is_one_line_and_changes_nothing(
    migrated_db_url: str, env: dict[str, str], needle: str
) -> None:
    seed(migrated_db_url)
    code, _out, err = run("--database-url", migrated_db_url, "alerts", "run", **env)
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0]
    assert count(migrated_db_url, "SELECT COUNT(*) FROM aesthetic_inventory_alert_state") == 0


def test_alerts_run_before_migrate_is_one_line(fixture_db_url: str) -> None:
    code, _out, err = run("--database-url", fixture_db_url, "alerts", "run")
    assert code == 1 and "run 'aesthetic-inventory migrate' first" in err


def test_install_bridge(tmp_path) -> None:
    (tmp_path / "library").mkdir()
    code, out, _ = run(
        "alerts",
        "install-bridge",
        "--openemr-dir",
        str(tmp_path),
        "--bin",
        "/opt/ai/bin/aesthetic-inventory",
    )
    assert code == 0 and "installed" in out
    php = (tmp_path / "library" / "aesthetic_inventory_alerts.php").read_text()
    assert "function aesthetic_inventory_alerts_run()" in php
    assert "'/opt/ai/bin/aesthetic-inventory'" in php
    assert "escapeshellarg($bin)" in php
    code, _out, err = run("alerts", "install-bridge", "--openemr-dir", str(tmp_path))
    assert code == 1 and "--force" in err
    code, _out, err = run("alerts", "install-bridge", "--openemr-dir", str(tmp_path / "nope"))
    assert code == 1 and "not an OpenEMR directory" in err


def test_install_bridge_registers_the_row_only_after_copying(tmp_path, migrated_db_url) -> None:
    query = (
        "SELECT COALESCE(require_once, '') FROM background_services "
        "WHERE name = 'AestheticInventoryAlerts'"
    )
    engine = create_db_engine(migrated_db_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text(query)).scalar() == ""
        # a failed copy (no OpenEMR tree) leaves the row without an include file
        code, _out, err = run(
            "--database-url", migrated_db_url, "alerts", "install-bridge",
            "--openemr-dir", str(tmp_path / "nope"),
        )
        assert code == 1 and "not an OpenEMR directory" in err
        with engine.connect() as conn:
            assert conn.execute(text(query)).scalar() == ""
        (tmp_path / "library").mkdir()
        code, out, _err = run(
            "--database-url", migrated_db_url, "alerts", "install-bridge",
            "--openemr-dir", str(tmp_path),
        )
        assert code == 0 and "now loads /library/aesthetic_inventory_alerts.php" in out
        assert (tmp_path / "library" / "aesthetic_inventory_alerts.php").is_file()
        with engine.connect() as conn:
            assert conn.execute(text(query)).scalar() == "/library/aesthetic_inventory_alerts.php"
    finally:
        engine.dispose()


def test_alerts_in_packages_and_units(migrated_db_url: str) -> None:
    """A product of 100 U vials: its stock and reorder point in vials and units in the
    text digest, the HTML and the JSON (numbers kept); a product without a package
    size prints exactly as before."""
    engine = create_db_engine(migrated_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO drugs (name, reorder_point, active) VALUES "
                              "('Botox', 300, 1), ('Gauze', 50, 1)"))
            conn.execute(text(
                "INSERT INTO aesthetic_inventory_product_stock (drug_id, units_per_package, "
                "counting_unit, package_unit) SELECT drug_id, 100, 'U', 'vial' FROM drugs "
                "WHERE name = 'Botox'"))
            conn.execute(text(
                "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) SELECT drug_id, IF(name = 'Botox', 'B1', 'G1'), "
                "CURDATE() + INTERVAL 10 DAY, IF(name = 'Botox', 140, 6), 'onsite' FROM drugs"))
    finally:
        engine.dispose()
    code, out, _ = run("--database-url", migrated_db_url, "alerts", "run", "--dry-run")
    assert code == 0, out
    assert "- Botox: 1 vial + 40 U usable, reorder point 3 vials" in out
    assert "- Gauze: usable on hand 6, reorder point 50" in out
    assert "Botox, lot B1, warehouse On Site: on hand 1 vial + 40 U, reorder point 3 vials" \
        in out
    assert "Gauze, lot G1, warehouse On Site: on hand 6, reorder point 50," in out
    code, out, _ = run("--database-url", migrated_db_url, "alerts", "run", "--dry-run", "--json")
    items = {(i["kind"], i["product"]): i for i in json.loads(out)["digest"]["items"]}
    botox = items[("low_stock", "Botox")]
    assert (botox["on_hand"], botox["reorder_point"]) == (140, 300)
    assert (botox["on_hand_text"], botox["reorder_point_text"]) == ("1 vial + 40 U", "3 vials")
    gauze = items[("low_stock", "Gauze")]
    assert (gauze["on_hand_text"], gauze["reorder_point_text"]) == ("6", "50")
