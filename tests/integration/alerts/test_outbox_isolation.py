"""One bad outbox row never stalls the rest, and one channel never waits for
another: any exception delivering a row (a header with a line break, an encoding
error, a broken HTTP status line) fails that row with backoff and the pass goes on;
a hung SMTP server does not hold up the CRM row."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from aesthetic_inventory.alerts.service import deliver_pending, run_alert_scan
from clinic import Clinic
from dbtools import make_app
from netservers import Certificates, http_server, make_certificates, silent_tcp_server, smtp_server
from sqlalchemy import text

NOW = datetime.now().replace(microsecond=0)


@pytest.fixture
def certificates(tmp_path) -> Certificates:
    return make_certificates(tmp_path)


def smtp_globals(engine, port: int, *, sender: str = "clinic@example.org", user: str = "") -> None:
    Clinic(engine).set_global("SMTP_HOST", "127.0.0.1")
    Clinic(engine).set_global("SMTP_PORT", str(port))
    Clinic(engine).set_global("SMTP_USER", user)
    Clinic(engine).set_global("SMTP_PASS", "")
    Clinic(engine).set_global("SMTP_SECURE", "")
    Clinic(engine).set_global("practice_return_email_path", sender)


def add_outbox_row(engine, channel: str, key: str, subject: str) -> int:
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO aesthetic_inventory_outbox (channel, idempotency_key, subject, "
                    "body_text, body_html, payload_json, status, attempts, next_attempt_at, "
                    "last_error, created_at) VALUES (:c, :k, :s, 'body', '<p>body</p>', '{}', "
                    "'pending', 0, :now, '', :now)"
                ),
                {"c": channel, "k": key, "s": subject, "now": NOW},
            ).lastrowid
        )


def outbox_row(engine, row_id: int) -> tuple:
    return Clinic(engine).rows(
        "SELECT status, attempts, next_attempt_at, last_error FROM aesthetic_inventory_outbox "
        "WHERE id = :id", {"id": row_id},
    )[0]


def test_header_injection_fails_that_row_and_the_next_row_goes_out(
    migrated_engine, migrated_db_url
) -> None:
    with smtp_server("plain", auth=False) as server:
        smtp_globals(migrated_engine, server.port)
        bad = add_outbox_row(migrated_engine, "email", "k-bad", "Alert\r\nBcc: all@example.net")
        good = add_outbox_row(migrated_engine, "email", "k-good", "Alert")
        app = make_app(migrated_db_url, channels="email", outbox_backoff_seconds="60")
        report = deliver_pending(app, now=NOW)
    assert [i for i, _c, _n in report.delivered] == [good]
    [(row_id, channel, error)] = report.failed
    assert (row_id, channel) == (bad, "email")
    assert error.startswith("ValueError: Header values may not contain linefeed")
    status, attempts, next_at, stored = outbox_row(migrated_engine, bad)
    assert (status, attempts, next_at) == ("pending", 1, NOW + timedelta(seconds=60))
    assert stored == error
    assert len(server.messages) == 1 and b"Bcc" not in server.messages[0][2]


def test_sender_global_with_line_break_does_not_stop_crm(migrated_engine, migrated_db_url) -> None:
    """The scan's own rows: e-mail first, CRM second. The e-mail row fails (its
    From header would inject a Bcc); the CRM row is still written."""
    with smtp_server("plain", auth=False) as server:
        smtp_globals(migrated_engine, server.port, sender="clinic@example.org\r\nBcc: x@y.z")
        Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
        result = run_alert_scan(make_app(migrated_db_url, channels="email,crm"), now=NOW)
    assert [c for _i, c, _n in result.delivery.delivered] == ["crm"]
    assert [c for _i, c, _e in result.delivery.failed] == ["email"]
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1
    assert server.messages == []


def test_encoding_error_fails_the_row_not_the_pass(
    migrated_engine, migrated_db_url, certificates
) -> None:
    """A non-ASCII SMTP password cannot be encoded by smtplib's AUTH
    (UnicodeEncodeError, not an SMTP error): the e-mail row fails, CRM goes out."""
    with smtp_server("starttls", certificates) as server:
        smtp_globals(migrated_engine, server.port, user="mailer")
        Clinic(migrated_engine).set_global("SMTP_PASS", "Pässwort-ü")
        Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
        app = make_app(
            migrated_db_url, channels="email,crm", smtp_ca_file=str(certificates.ca_file)
        )
        result = run_alert_scan(app, now=NOW)
    assert [c for _i, c, _n in result.delivery.delivered] == ["crm"]
    [(_id, _channel, error)] = result.delivery.failed
    assert error.startswith("UnicodeEncodeError") and "Pässwort" not in error
    assert server.messages == []


def test_broken_http_status_line_fails_the_webhook_row(migrated_engine, migrated_db_url) -> None:
    with http_server(lambda _request: b"HTTP/1.1 banana\r\n\r\n") as (base, received):
        Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
        app = make_app(
            migrated_db_url, channels="webhook,crm", webhook_url=base + "/hook",
            webhook_secret="k3y",
        )
        result = run_alert_scan(app, now=NOW)
    assert len(received) == 1
    assert [c for _i, c, _n in result.delivery.delivered] == ["crm"]
    [(row_id, channel, error)] = result.delivery.failed
    assert channel == "webhook" and "malformed HTTP response" in error
    assert outbox_row(migrated_engine, row_id)[:2] == ("pending", 1)


def test_hung_smtp_server_does_not_hold_up_crm(migrated_engine, migrated_db_url) -> None:
    """The SMTP server accepts the connection and never greets. The CRM row is
    delivered while the e-mail worker is still waiting on it (the pass itself
    only ends once the server lets go)."""
    with silent_tcp_server() as (port, connected, release):
        smtp_globals(migrated_engine, port)
        Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
        app = make_app(migrated_db_url, channels="email,crm", smtp_timeout_seconds="120")
        run_alert_scan(app, now=NOW, deliver=False)  # the outbox rows: e-mail first
        outcome: dict[str, object] = {}
        worker = threading.Thread(
            target=lambda: outcome.setdefault("report", deliver_pending(app, now=NOW))
        )
        worker.start()
        assert connected.wait(60)

        def crm_status() -> str:
            return str(
                Clinic(migrated_engine).scalar(
                    "SELECT status FROM aesthetic_inventory_outbox WHERE channel = 'crm'"
                )
            )

        while crm_status() != "delivered" and worker.is_alive():
            threading.Event().wait(0.05)
        assert crm_status() == "delivered"
        assert worker.is_alive()  # the e-mail row is still in flight
        release.set()
    worker.join(60)
    report = outcome["report"]
    assert [c for _i, c, _n in report.delivered] == ["crm"]
    assert [c for _i, c, _e in report.failed] == ["email"]
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1
