"""A.4 doctor: every check, its fix, exit codes, --json; status ends with the health
line. C.6: bad mappings are refused (CHECK) or reported."""

from __future__ import annotations

import json

import pymysql
import pytest
from aesthetic_inventory.install.doctor import run_doctor
from aesthetic_inventory.install.mapping_repository import MappingHealthRepository
from clinic import Clinic
from install_helpers import cli, sql
from sqlalchemy.engine import Engine


def doctor_json(url: str) -> tuple[int, dict]:
    code, out, _ = cli("--database-url", url, "doctor", "--json")
    return code, json.loads(out)


def by_name(data: dict) -> dict[str, dict]:
    return {c["name"]: c for c in data["checks"]}


def test_healthy_install_exits_0_and_lists_every_check(migrated_db_url: str) -> None:
    code, out, _ = cli("--database-url", migrated_db_url, "doctor")
    assert code == 0
    for name in ("upgrade files", "module tables", "triggers", "collations", "InnoDB",
                 "mappings", "queue", "outbox", "service claim", "lot dates"):
        assert f"[ok  ] {name}: " in out
    assert out.splitlines()[-1] == "health: ok (13 checks passed)"
    code, out, _ = cli("--database-url", migrated_db_url, "status")
    assert out.splitlines()[-1] == "health: ok (13 checks passed)"
    code, out, _ = cli("--database-url", migrated_db_url, "status", "--json")
    health = json.loads(out)["health"]
    assert health == {"healthy": True, "summary": "health: ok (13 checks passed)"}


def test_unmigrated_database_is_one_problem_with_its_fix(fixture_db_url: str) -> None:
    code, data = doctor_json(fixture_db_url)
    assert code == 1 and not data["healthy"]
    first = data["checks"][0]
    assert first["status"] == "fail" and first["fix"] == "run 'aesthetic-inventory migrate'"


def test_not_openemr_is_one_line(mysql_server, fixture_db_url: str) -> None:
    other = mysql_server.create_database("noe")
    try:
        code, out, err = cli("--database-url", mysql_server.database_url(other), "doctor")
        assert code == 1 and "this is not an OpenEMR database" in err
        assert len(err.strip().splitlines()) == 1
    finally:
        mysql_server.drop_database(other)


def test_each_problem_fails_its_check_with_a_fix(clinic: Clinic, migrated_db_url: str) -> None:
    drug = clinic.add_drug("Filler")
    inactive = clinic.add_drug("Old peel")
    clinic.add_mapping("11950", inactive)
    clinic.execute("UPDATE drugs SET active = 0 WHERE drug_id = :d", {"d": inactive})
    lot = clinic.add_lot(drug, 5)
    # OpenEMR's lot form stores a blank expiration as a zero date under its empty sql_mode
    sql(migrated_db_url, "SET SESSION sql_mode = ''",
        f"UPDATE drug_inventory SET expiration = '0000-00-00' WHERE inventory_id = {lot}")
    sql(
        migrated_db_url,
        "INSERT INTO aesthetic_inventory_change_queue (pid, encounter, queued_at) "
        "VALUES (1, 5, NOW(6) - INTERVAL 2 HOUR)",
        "INSERT INTO aesthetic_inventory_outbox (channel, idempotency_key, body_text, body_html, "
        "payload_json, attempts, next_attempt_at, last_error, created_at) VALUES ('email', 'k1', "
        "'', '', '{}', 3, NOW(), 'SMTP connect refused', NOW())",
        "UPDATE background_services SET running = 1, next_run = NOW() - INTERVAL 3 HOUR "
        "WHERE name = 'AestheticInventoryAlerts'",
        "INSERT INTO aesthetic_inventory_service_claims VALUES "
        "('AestheticInventoryAlerts', 'host:42', NOW() - INTERVAL 2 HOUR)",
    )
    code, data = doctor_json(migrated_db_url)
    assert code == 1
    checks = by_name(data)
    assert checks["mappings"]["status"] == "fail"
    assert "its product is inactive" in checks["mappings"]["problems"][0]
    assert checks["queue"]["status"] == "fail" and "oldest 120 minute(s)" in (
        checks["queue"]["problems"][0]
    )
    assert "sync" in checks["queue"]["fix"]
    assert checks["outbox"]["status"] == "fail"
    assert checks["outbox"]["problems"] == ["email: 1 row(s), last error: SMTP connect refused"]
    assert checks["service claim"]["status"] == "fail"
    assert "host:42" in checks["service claim"]["summary"]
    assert checks["lot dates"]["status"] == "warn" and "1 lot(s)" in checks["lot dates"]["summary"]
    for name in ("mappings", "queue", "outbox", "service claim", "lot dates"):
        assert checks[name]["fix"]
    assert data["summary"].startswith("health: 4 problem(s) (mappings, queue, outbox, service "
                                      "claim), 1 warning(s)")
    code, out, _ = cli("--database-url", migrated_db_url, "status")
    assert out.splitlines()[-1] == data["summary"]


def test_set_aside_visits_are_listed(migrated_engine: Engine) -> None:
    """The engine's set-aside columns (519_01_queue.sql: attempts, last_error)."""
    with migrated_engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO aesthetic_inventory_change_queue (pid, encounter, queued_at, attempts, "
            "last_error) VALUES (3, 7, NOW(6), 4, 'TypeError: bad date')"
        )
    report = run_doctor(migrated_engine)
    queue = {c.name: c for c in report.checks}["queue"]
    assert queue.status == "fail"
    assert queue.problems == (
        "visit pid 3 encounter 7 set aside after 4 attempt(s): TypeError: bad date",
    )


def test_quantity_check_refuses_bad_mappings(clinic: Clinic, migrated_db_url: str) -> None:
    drug = clinic.add_drug("Botox")
    for quantity in ("0", "-1"):
        with pytest.raises(pymysql.err.OperationalError) as caught:
            sql(migrated_db_url, "INSERT INTO procedure_products (code_type, code, drug_id, "
                f"quantity) VALUES ('CPT4', '1', {drug}, {quantity})")
        assert caught.value.args[0] == 4025  # CONSTRAINT ... failed


def test_bad_mapping_rows_block_the_check_and_are_reported(
    clinic: Clinic, migrated_db_url: str, migrated_engine: Engine
) -> None:
    drug = clinic.add_drug("Botox")
    sql(
        migrated_db_url,
        "ALTER TABLE procedure_products DROP CONSTRAINT aesthetic_inventory_quantity_positive",
        "SET SESSION foreign_key_checks = 0",
        f"INSERT INTO procedure_products (code_type, code, drug_id, quantity) VALUES "
        f"('CPT4', '1', {drug}, 0), ('CPT4', '2', 999999, 1)",
    )
    with migrated_engine.connect() as conn:
        invalid = MappingHealthRepository(conn).invalid_mappings()
    assert [(m.code, m.problem) for m in invalid] == [
        ("1", "quantity 0.0000 is not greater than 0"),
        ("2", "its product does not exist"),
    ]
    code, out, _ = cli("--database-url", migrated_db_url, "migrate")
    assert code == 0
    assert "CHECK (quantity > 0) on procedure_products not added: 1 mapping(s) have " \
           "quantity <= 0" in out and "(blocked)" in out
    code, data = doctor_json(migrated_db_url)
    assert code == 1 and len(by_name(data)["mappings"]["problems"]) == 2
    sql(migrated_db_url, "DELETE FROM procedure_products")
    code, out, _ = cli("--database-url", migrated_db_url, "migrate")
    assert "add CHECK (quantity > 0) on procedure_products (done)" in out
    assert doctor_json(migrated_db_url)[0] == 0
