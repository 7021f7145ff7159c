"""Channels on real servers: SMTP (aiosmtpd) configured through OpenEMR globals,
a signed webhook received by http.server, pnotes messages, and an SMTP outage."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from aesthetic_inventory.alerts.service import deliver_pending, run_alert_scan
from aiosmtpd.controller import Controller
from clinic import Clinic
from dbtools import make_app

NOW = datetime.now().replace(microsecond=0)


class Collector:
    """aiosmtpd handler keeping every received message."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp_port() -> int:
    return free_port()


def start_smtp(port: int) -> tuple[Controller, Collector]:
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, collector


def configure_globals(engine, port: int) -> None:
    Clinic(engine).set_global("SMTP_HOST", "127.0.0.1")
    Clinic(engine).set_global("SMTP_PORT", str(port))
    Clinic(engine).set_global("SMTP_USER", "")
    Clinic(engine).set_global("SMTP_PASS", "")
    Clinic(engine).set_global("SMTP_SECURE", "")
    Clinic(engine).set_global("practice_return_email_path", "clinic@example.org")


def test_email_received_via_globals(migrated_engine, migrated_db_url, smtp_port) -> None:
    configure_globals(migrated_engine, smtp_port)
    Clinic(migrated_engine).add_drug("Botox Cosmetic 100U", reorder_point=5)
    controller, collector = start_smtp(smtp_port)
    try:
        result = run_alert_scan(make_app(migrated_db_url, channels="crm,email"), now=NOW)
    finally:
        controller.stop()
    assert {c for _i, c, _n in result.delivery.delivered} == {"crm", "email"}
    assert len(collector.messages) == 1
    sender, recipients, content = collector.messages[0]
    assert sender == "clinic@example.org" and recipients == ["clinic@example.org"]
    mail = message_from_bytes(content, policy=policy.default)
    assert mail["Subject"] == "Aesthetic Inventory Alert"
    key = next(k for k in result.outbox_keys if k.endswith("-email"))
    assert mail["X-Aesthetic-Inventory-Key"] == key
    assert key in mail["Message-ID"]
    assert "Botox Cosmetic 100U" in content.decode()
    # the CRM row used the same practice address as sender
    assert Clinic(migrated_engine).scalar("SELECT email_sender FROM notification_log") == (
        "clinic@example.org"
    )


def test_smtp_down_then_up_delivered_once(migrated_engine, migrated_db_url, smtp_port) -> None:
    configure_globals(migrated_engine, smtp_port)
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    app = make_app(
        migrated_db_url,
        channels="crm,email",
        email_to="owner@example.org",
        outbox_backoff_seconds="60",
    )
    first = run_alert_scan(app, now=NOW)  # nothing listens on the port yet
    assert [c for _i, c, _n in first.delivery.delivered] == ["crm"]
    assert [c for _i, c, _e in first.delivery.failed] == ["email"]
    attempts, next_at, error = Clinic(migrated_engine).rows(
        "SELECT attempts, next_attempt_at, last_error FROM aesthetic_inventory_outbox "
        "WHERE channel = 'email'"
    )[0]
    assert attempts == 1 and next_at == NOW + timedelta(seconds=60) and "failed" in error

    controller, collector = start_smtp(smtp_port)
    try:
        early = deliver_pending(app, now=NOW + timedelta(seconds=30))  # backoff not over
        assert early.delivered == [] and collector.messages == []
        second_fail_free = deliver_pending(app, now=NOW + timedelta(seconds=61))
        again = deliver_pending(app, now=NOW + timedelta(hours=2))
    finally:
        controller.stop()
    assert [c for _i, c, _n in second_fail_free.delivered] == ["email"]
    assert again.delivered == [] and again.failed == []
    assert len(collector.messages) == 1
    assert collector.messages[0][1] == ["owner@example.org"]
    assert (
        Clinic(migrated_engine).scalar(
            "SELECT COUNT(*) FROM aesthetic_inventory_outbox WHERE status='pending'"
        )
        == 0
    )
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM notification_log") == 1


def test_smtp_password_never_in_errors(migrated_engine, migrated_db_url, smtp_port) -> None:
    configure_globals(migrated_engine, smtp_port)
    Clinic(migrated_engine).set_global("SMTP_USER", "mailer")
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    app = make_app(migrated_db_url, channels="email", smtp_password="Very-Secret-PW")
    result = run_alert_scan(app, now=NOW)
    assert result.delivery.failed
    stored = Clinic(migrated_engine).scalar("SELECT last_error FROM aesthetic_inventory_outbox")
    assert "Very-Secret-PW" not in str(stored) and "Very-Secret-PW" not in repr(result)


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_signed(migrated_engine, migrated_db_url) -> None:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        result = run_alert_scan(
            make_app(migrated_db_url, channels="webhook", webhook_url=url, webhook_secret="k3y"),
            now=NOW,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [c for _i, c, _n in result.delivery.delivered] == ["webhook"]
    assert len(_Hook.received) == 1
    headers, body = _Hook.received[0]
    # t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">
    stamp, mac = headers["X-Aesthetic-Inventory-Signature"].split(",")
    assert stamp.startswith("t=") and mac.startswith("v1=")
    signed = stamp[2:].encode() + b"." + body
    assert mac[3:] == hmac.new(b"k3y", signed, hashlib.sha256).hexdigest()
    payload = json.loads(body)
    assert headers["Idempotency-Key"] == payload["idempotency_key"] == result.outbox_keys[0]
    assert payload["items"][0]["product"] == "Botox"


def test_message_channel_writes_pnotes_once(migrated_engine, migrated_db_url) -> None:
    Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
    app = make_app(migrated_db_url, channels="message", message_to="admin,nurse")
    run_alert_scan(app, now=NOW)
    notes = Clinic(migrated_engine).rows(
        "SELECT title, user, assigned_to, message_status, activity, pid, deleted FROM pnotes "
        "ORDER BY assigned_to"
    )
    assert notes == [
        ("Aesthetic Inventory Alert", "admin", "admin", "New", 1, 0, 0),
        ("Aesthetic Inventory Alert", "admin", "nurse", "New", 1, 0, 0),
    ]
    assert deliver_pending(app, now=NOW + timedelta(hours=1)).delivered == []
    assert Clinic(migrated_engine).scalar("SELECT COUNT(*) FROM pnotes") == 2
