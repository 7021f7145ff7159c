"""A.2: the triggers run as the migrating account (DEFINER = CURRENT_USER); doctor
detects a dropped definer or one without INSERT on the queue; migrate run by another
account with TRIGGER re-creates them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aesthetic_inventory.install.billing_triggers import TRIGGERS as BILLING
from install_helpers import BILLING_INSERT, billing_write, cli, php_client, scalar, sql
from sqlalchemy.engine import make_url


@pytest.fixture
def second_account(fixture_db_url: str) -> Iterator[tuple[str, str]]:
    """A MariaDB account allowed to migrate this database (not root): (user@host, URL)."""
    db = make_url(fixture_db_url).database
    user = f"mig_{db[-8:]}"
    sql(
        fixture_db_url,
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw2'",
        f"GRANT ALL PRIVILEGES ON `{db}`.* TO '{user}'@'%'",
    )
    url = make_url(fixture_db_url).set(username=user, password="pw2")
    try:
        yield f"{user}@%", url.render_as_string(hide_password=False)
    finally:
        sql(fixture_db_url, f"DROP USER IF EXISTS '{user}'@'%'")


def definers(url: str) -> set[str]:
    rows = sql(
        url,
        "SELECT DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() "
        "AND TRIGGER_NAME LIKE 'aesthetic%'",
    )
    return {r[0] for r in rows}


def test_definer_dropped_or_unprivileged_is_found_and_repaired(
    fixture_db_url: str, second_account: tuple[str, str]
) -> None:
    account, url2 = second_account
    user = account.split("@")[0]
    db = make_url(fixture_db_url).database
    code, out, err = cli("--database-url", url2, "migrate")
    assert code == 0, err
    assert definers(fixture_db_url) == {account}  # DEFINER = CURRENT_USER
    assert billing_write(fixture_db_url) == 3
    code, out, _ = cli("--database-url", fixture_db_url, "doctor")
    assert code == 0 and f"definer {account} exists and may INSERT" in out

    # the definer loses INSERT on the queue: saves still succeed, nothing is queued
    sql(
        fixture_db_url,
        f"REVOKE ALL PRIVILEGES ON `{db}`.* FROM '{user}'@'%'",
        f"GRANT SELECT, UPDATE, DELETE, TRIGGER ON `{db}`.* TO '{user}'@'%'",
        "DELETE FROM aesthetic_inventory_change_queue",
    )
    assert billing_write(fixture_db_url) == 0
    code, out, _ = cli("--database-url", fixture_db_url, "doctor")
    assert code == 1
    assert f"its definer {account} may not INSERT into aesthetic_inventory_change_queue" in out
    assert "GRANT INSERT ON aesthetic_inventory_change_queue to the definer" in out

    # the definer is dropped: the server raises 1449 before any handler
    sql(fixture_db_url, f"DROP USER '{user}'@'%'")
    conn = php_client(fixture_db_url)
    try:
        with pytest.raises(Exception) as caught, conn.cursor() as cur:
            cur.execute(BILLING_INSERT)
        assert caught.value.args[0] == 1449
    finally:
        conn.close()
    code, out, _ = cli("--database-url", fixture_db_url, "doctor", "--json")
    assert code == 1
    assert f"its definer {account} does not exist" in out
    code, out, _ = cli("--database-url", fixture_db_url, "status")
    assert "health: " in out.splitlines()[-1] and "triggers" in out.splitlines()[-1]

    # migrate by another account with TRIGGER re-creates them, as that account
    code, out, _ = cli("--database-url", fixture_db_url, "migrate")
    assert code == 0
    assert "re-created " + ", ".join(s.name for s in BILLING) in out
    root = scalar(fixture_db_url, "SELECT CURRENT_USER()")
    assert definers(fixture_db_url) == {root}
    assert billing_write(fixture_db_url) == 3
    code, out, _ = cli("--database-url", fixture_db_url, "doctor")
    assert code == 0, out


def test_an_account_without_trigger_privilege_cannot_verify_and_says_so(
    migrated_db_url: str,
) -> None:
    db = make_url(migrated_db_url).database
    user = f"ro_{db[-8:]}"
    sql(
        migrated_db_url,
        f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw3'",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.* TO '{user}'@'%'",
    )
    try:
        url = make_url(migrated_db_url).set(username=user, password="pw3")
        code, out, _ = cli("--database-url", url.render_as_string(hide_password=False), "doctor")
        assert code == 0  # a warning: this account cannot see the triggers, nothing failed
        assert "[WARN] triggers: this account cannot verify every trigger" in out
        assert "its body cannot be read: this account lacks the TRIGGER privilege on billing" in out
        assert "pw3" not in out
    finally:
        sql(migrated_db_url, f"DROP USER '{user}'@'%'")
