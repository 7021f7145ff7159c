"""A.1: the billing triggers can never fail a billing write (missing, renamed or
locked queue table; a definer that lost INSERT), and each body is one insert."""

from __future__ import annotations

import threading

import pymysql
import pytest
from aesthetic_inventory.install.billing_triggers import TRIGGERS as BILLING
from install_helpers import BILLING_INSERT, billing_write, php_client, scalar, sql

QUEUE = "aesthetic_inventory_change_queue"


def test_installed_bodies_carry_the_handler_one_insert_no_comment(migrated_db_url: str) -> None:
    rows = sql(
        migrated_db_url,
        "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = 'billing'",
    )
    bodies = dict(rows)
    assert set(bodies) == {s.name for s in BILLING}
    for spec in BILLING:
        body = bodies[spec.name]
        assert "DECLARE CONTINUE HANDLER FOR SQLEXCEPTION" in body
        assert spec.matches("billing", spec.event, body) and "/*" not in body
        # plain VALUES inserts (no read, no INSERT ... SELECT); the update trigger has one
        # per branch of its IF, so at most one runs
        assert "SELECT" not in body.upper()
        inserts = body.upper().count("INSERT INTO")
        assert inserts == (2 if spec.event == "AFTER UPDATE" else 1)
        assert inserts == 1 or body.upper().count("ELSEIF") == 1


def test_queue_still_filled_when_all_is_well(migrated_db_url: str) -> None:
    assert billing_write(migrated_db_url) == 3  # insert, update (units), delete


@pytest.mark.parametrize(
    "damage",
    [f"DROP TABLE {QUEUE}", f"RENAME TABLE {QUEUE} TO {QUEUE}_old"],
    ids=["dropped", "renamed"],
)
def test_billing_write_succeeds_without_the_queue_table(migrated_db_url: str, damage: str) -> None:
    sql(migrated_db_url, damage)
    billing_write(migrated_db_url)  # raised 1146 before the handler
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM billing") == 0  # inserted, then deleted
    assert scalar(migrated_db_url, "SELECT AUTO_INCREMENT > 1 FROM information_schema.TABLES "
                  "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'billing'") == 1


def test_billing_insert_never_waits_for_the_workers_queue_locks(migrated_db_url: str) -> None:
    """The worker holds its claimed queue rows (read committed, FOR UPDATE SKIP LOCKED)
    for a whole reconcile: a fee-sheet save meanwhile must not wait for them (a lock
    wait timeout is the one error a trigger cannot handle)."""
    sql(migrated_db_url, BILLING_INSERT)  # one queued row for the worker to hold
    holder = php_client(migrated_db_url)
    holder.autocommit(False)
    try:
        with holder.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute("START TRANSACTION")
            cur.execute(f"SELECT id FROM {QUEUE} FOR UPDATE SKIP LOCKED")
            assert len(cur.fetchall()) == 1
        writer = php_client(migrated_db_url)
        try:
            with writer.cursor() as cur:
                cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
                cur.execute(BILLING_INSERT)
                line = cur.lastrowid
                cur.execute(f"UPDATE billing SET units = 5 WHERE id = {line}")
                cur.execute(f"UPDATE billing SET encounter = 101 WHERE id = {line}")
                cur.execute(f"SELECT COUNT(*) FROM {QUEUE}")
                assert cur.fetchone()[0] == 1 + 1 + 1 + 2  # held row, insert, units, move
        finally:
            writer.close()
    finally:
        holder.rollback()
        holder.close()
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM billing") == 2


def test_billing_write_succeeds_when_the_definer_lost_insert(
    mysql_server, migrated_db_url: str
) -> None:
    from sqlalchemy.engine import make_url

    db = make_url(migrated_db_url).database
    user = f"fs_{db[-8:]}"
    sql(
        migrated_db_url,
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'",
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRIGGER ON `{db}`.* TO '{user}'@'%'",
    )
    try:
        limited = make_url(migrated_db_url).set(username=user, password="pw")
        url = limited.render_as_string(hide_password=False)
        for spec in BILLING:  # re-created by the limited account: it is the definer now
            sql(url, spec.drop_sql(), spec.create_sql())
        assert billing_write(migrated_db_url) == 3
        sql(migrated_db_url, f"REVOKE INSERT ON `{db}`.* FROM '{user}'@'%'",
            f"GRANT INSERT ON `{db}`.billing TO '{user}'@'%'")
        sql(migrated_db_url, f"DELETE FROM {QUEUE}")
        assert billing_write(migrated_db_url) == 0  # raised 1142 before the handler
        assert scalar(migrated_db_url, "SELECT COUNT(*) FROM billing") == 0
    finally:
        sql(migrated_db_url, f"DROP USER '{user}'@'%'")


def test_concurrent_billing_saves_with_a_missing_queue_all_succeed(migrated_db_url: str) -> None:
    sql(migrated_db_url, f"DROP TABLE {QUEUE}")
    errors: list[BaseException] = []

    def save() -> None:
        try:
            conn = php_client(migrated_db_url)
            try:
                with conn.cursor() as cur:
                    for _ in range(5):
                        cur.execute(BILLING_INSERT)
            finally:
                conn.close()
        except pymysql.MySQLError as exc:  # pragma: no cover - the failure being tested
            errors.append(exc)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM billing") == 20
