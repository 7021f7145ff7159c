"""A large first scan still delivers its CRM row under strict sql_mode: the digest
lists a capped number of items per kind, and the CRM text is cut to the TEXT
column (65,535 bytes) on a character boundary."""

from __future__ import annotations

from datetime import datetime, timedelta

from aesthetic_inventory.alerts.channels import TEXT_COLUMN_BYTES
from aesthetic_inventory.alerts.service import run_alert_scan
from clinic import Clinic
from dbtools import make_app
from sqlalchemy import text

NOW = datetime.now().replace(microsecond=0)
TODAY = NOW.date()
LOTS = 2000


def seed_lots(engine) -> None:
    """One product (multi-byte name) with 2,000 lots expiring within the horizon."""
    with engine.begin() as conn:
        drug = conn.execute(
            text("INSERT INTO drugs (name, reorder_point, active) VALUES (:n, 1, 1)"),
            {"n": "Crème hyaluronique réticulée \U0001f489 " + "é" * 60},
        ).lastrowid
        conn.execute(
            text(
                "INSERT INTO drug_inventory (drug_id, lot_number, expiration, on_hand, "
                "warehouse_id) VALUES (:d, :lot, :exp, :on_hand, :wh)"
            ),
            [
                {
                    "d": drug,
                    "lot": f"LOT-ü-{n:05d}",
                    "exp": TODAY + timedelta(days=1 + n % 25),
                    "on_hand": 1 + n % 7,
                    "wh": "onsite",
                }
                for n in range(LOTS)
            ],
        )


def crm_messages(engine) -> list[str]:
    return [r[0] for r in Clinic(engine).rows("SELECT message FROM notification_log")]


def strict(engine) -> bool:
    mode = Clinic(engine).rows("SELECT @@SESSION.sql_mode")[0][0]
    return "STRICT_TRANS_TABLES" in mode or "STRICT_ALL_TABLES" in mode


def test_large_first_scan_delivers_the_crm_row(migrated_engine, migrated_db_url) -> None:
    assert strict(migrated_engine)
    seed_lots(migrated_engine)
    app = make_app(migrated_db_url)
    result = run_alert_scan(app, now=NOW)
    assert result.new == LOTS
    assert result.delivery.failed == [] and len(result.delivery.delivered) == 1
    [message] = crm_messages(migrated_engine)
    assert message == result.digest_text  # the capped digest fits as it is
    assert f"... and {LOTS - 50} more" in message
    assert len(message.encode()) <= TEXT_COLUMN_BYTES
    app.close()


def test_uncapped_digest_is_cut_to_the_column(migrated_engine, migrated_db_url) -> None:
    seed_lots(migrated_engine)
    # every item listed: the text is far longer than a TEXT column holds
    app = make_app(migrated_db_url, digest_max_items_per_kind="100000")
    result = run_alert_scan(app, now=NOW)
    assert len((result.digest_text or "").encode()) > 2 * TEXT_COLUMN_BYTES
    assert result.delivery.failed == [] and len(result.delivery.delivered) == 1
    [message] = crm_messages(migrated_engine)
    encoded = message.encode()
    assert TEXT_COLUMN_BYTES - 200 < len(encoded) <= TEXT_COLUMN_BYTES
    assert message.endswith("[digest truncated; the e-mail and webhook carry every item]\n")
    assert (result.digest_text or "").startswith(message.split("\n[digest truncated")[0])
    app.close()
