"""The webhook channel against a real HTTP server: a redirect is not a delivery,
and the signature covers a timestamp and the body (replay window documented)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import datetime

import pytest
from aesthetic_inventory.alerts.channels import REPLAY_WINDOW_SECONDS, verify_signature
from aesthetic_inventory.alerts.service import run_alert_scan
from clinic import Clinic
from dbtools import make_app
from netservers import http_server

NOW = datetime.now().replace(microsecond=0)
SECRET = "whsec-3f9a"


def webhook_app(url: str, base: str):
    return make_app(url, channels="webhook", webhook_url=base + "/hook", webhook_secret=SECRET)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirect_is_not_a_delivery(migrated_engine, migrated_db_url, status: int) -> None:
    def respond(request):
        if request.path == "/hook":
            return status, {"Location": "/moved"}
        return 200, {}  # what a followed redirect would have reached (as a GET for 301/302)

    with http_server(respond) as (base, received):
        Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
        result = run_alert_scan(webhook_app(migrated_db_url, base), now=NOW)
    assert [(r.method, r.path) for r in received] == [("POST", "/hook")]  # not followed
    assert result.delivery.delivered == []
    [(_id, channel, error)] = result.delivery.failed
    assert channel == "webhook"
    assert f"HTTP {status} (redirect to /moved): a redirect is not a delivery" in error
    [(state, attempts, stored)] = Clinic(migrated_engine).rows(
        "SELECT status, attempts, last_error FROM aesthetic_inventory_outbox"
    )
    assert (state, attempts) == ("pending", 1) and "redirect" in stored


def test_signature_covers_timestamp_and_body(migrated_engine, migrated_db_url) -> None:
    with http_server(lambda _request: (200, {})) as (base, received):
        Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
        before = int(time.time())
        result = run_alert_scan(webhook_app(migrated_db_url, base), now=NOW)
        after = int(time.time())
    assert [c for _i, c, _n in result.delivery.delivered] == ["webhook"]
    [request] = received
    header = request.headers["X-Aesthetic-Inventory-Signature"]
    fields = dict(part.split("=", 1) for part in header.split(","))
    assert set(fields) == {"t", "v1"}
    stamp = int(fields["t"])
    assert before <= stamp <= after
    expected = hmac.new(
        SECRET.encode(), fields["t"].encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert fields["v1"] == expected
    assert json.loads(request.body)["idempotency_key"] == request.headers["Idempotency-Key"]

    # what a receiver does with it
    assert verify_signature(header, request.body, SECRET, now=stamp + 10)
    assert not verify_signature(header, request.body + b" ", SECRET, now=stamp + 10)
    assert not verify_signature(header, request.body, "other-secret", now=stamp + 10)
    replayed = stamp + REPLAY_WINDOW_SECONDS + 1
    assert not verify_signature(header, request.body, SECRET, now=replayed)
    # the timestamp cannot be moved without breaking the MAC
    moved = header.replace(f"t={stamp}", f"t={stamp + 600}")
    assert not verify_signature(moved, request.body, SECRET, now=stamp + 600)


def test_http_error_status_keeps_the_row(migrated_engine, migrated_db_url) -> None:
    with http_server(lambda _request: (503, {})) as (base, _received):
        Clinic(migrated_engine).add_drug("Botox", reorder_point=5)
        result = run_alert_scan(webhook_app(migrated_db_url, base), now=NOW)
    [(_id, _channel, error)] = result.delivery.failed
    assert error == "webhook answered HTTP 503"
