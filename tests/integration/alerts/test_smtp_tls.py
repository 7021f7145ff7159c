"""SMTP as OpenEMR's PHPMailer does it by default, against real aiosmtpd servers
with a certificate from a private CA: STARTTLS whenever offered, ``SMTP_SECURE``
ssl/tls honoured, certificates verified (``smtp_ca_file`` names the CA), and the
password never sent on a connection without TLS unless a setting allows it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from aesthetic_inventory.alerts.service import deliver_pending, run_alert_scan
from clinic import Clinic
from dbtools import make_app
from netservers import Certificates, make_certificates, smtp_server

NOW = datetime.now().replace(microsecond=0)
USER, PASSWORD = "mailer", "Mail-Pass-1"


@pytest.fixture
def certificates(tmp_path) -> Certificates:
    return make_certificates(tmp_path)


def configure(engine, port: int, secure: str = "", user: str = USER) -> None:
    """OpenEMR's own SMTP globals, as an admin sets them in Config > Notifications."""
    Clinic(engine).set_global("SMTP_HOST", "127.0.0.1")
    Clinic(engine).set_global("SMTP_PORT", str(port))
    Clinic(engine).set_global("SMTP_USER", user)
    Clinic(engine).set_global("SMTP_PASS", PASSWORD)
    Clinic(engine).set_global("SMTP_SECURE", secure)
    Clinic(engine).set_global("practice_return_email_path", "clinic@example.org")
    Clinic(engine).add_drug("Botox Cosmetic 100U", reorder_point=5)


def outbox(engine) -> list[tuple]:
    return Clinic(engine).rows(
        "SELECT status, attempts, last_error FROM aesthetic_inventory_outbox"
    )


def test_starttls_offered_is_used_before_auth(
    migrated_engine, migrated_db_url, certificates
) -> None:
    with smtp_server("starttls", certificates) as server:
        configure(migrated_engine, server.port)
        app = make_app(migrated_db_url, channels="email", smtp_ca_file=str(certificates.ca_file))
        result = run_alert_scan(app, now=NOW)
    assert [c for _i, c, _n in result.delivery.delivered] == ["email"], result.delivery.failed
    assert server.logins == [(USER, PASSWORD, True)]  # the password went over TLS only
    assert len(server.messages) == 1 and b"Botox Cosmetic 100U" in server.messages[0][2]
    assert outbox(migrated_engine) == [("delivered", 1, "")]


def test_certificate_is_verified_by_default(migrated_engine, migrated_db_url, certificates) -> None:
    with smtp_server("starttls", certificates) as server:
        configure(migrated_engine, server.port)
        result = run_alert_scan(make_app(migrated_db_url, channels="email"), now=NOW)
    assert result.delivery.delivered == []
    [(_id, channel, error)] = result.delivery.failed
    assert channel == "email" and "certificate is not trusted" in error
    assert "AESTHETIC_INVENTORY_SMTP_CA_FILE" in error
    assert server.logins == [] and server.messages == []
    [(status, attempts, stored)] = outbox(migrated_engine)
    assert (status, attempts) == ("pending", 1) and "not trusted" in stored


def test_smtp_secure_ssl_is_implicit_tls(migrated_engine, migrated_db_url, certificates) -> None:
    with smtp_server("ssl", certificates) as server:
        configure(migrated_engine, server.port, secure="ssl")
        app = make_app(migrated_db_url, channels="email", smtp_ca_file=str(certificates.ca_file))
        result = run_alert_scan(app, now=NOW)
    assert [c for _i, c, _n in result.delivery.delivered] == ["email"], result.delivery.failed
    assert server.logins == [(USER, PASSWORD, True)]
    assert len(server.messages) == 1


def test_smtp_secure_tls_requires_starttls(migrated_engine, migrated_db_url) -> None:
    with smtp_server("plain", auth=False) as server:
        configure(migrated_engine, server.port, secure="tls", user="")
        result = run_alert_scan(make_app(migrated_db_url, channels="email"), now=NOW)
    [(_id, _channel, error)] = result.delivery.failed
    assert "SMTP_SECURE is tls but the server does not offer STARTTLS" in error
    assert server.messages == []


def test_password_never_sent_without_tls(migrated_engine, migrated_db_url) -> None:
    with smtp_server("plain") as server:
        configure(migrated_engine, server.port)
        refused = run_alert_scan(make_app(migrated_db_url, channels="email"), now=NOW)
        assert server.logins == [] and server.messages == []  # no AUTH was even tried
        [(_id, _channel, error)] = refused.delivery.failed
        assert "refusing to send the SMTP password over a connection without TLS" in error
        assert PASSWORD not in error

        allowed = make_app(migrated_db_url, channels="email", smtp_allow_unencrypted_auth="true")
        report = deliver_pending(allowed, now=NOW + timedelta(hours=1))  # the retry
    assert [c for _i, c, _n in report.delivered] == ["email"]
    assert server.logins == [(USER, PASSWORD, False)]  # only because the setting allows it
    assert len(server.messages) == 1


def test_smtp_secure_none_setting_skips_starttls(
    migrated_engine, migrated_db_url, certificates
) -> None:
    """``smtp_secure = none`` (the module's override) never upgrades, so the
    server's require-STARTTLS policy refuses the mail: TLS is not used behind
    the admin's back either way."""
    with smtp_server("starttls", certificates, auth=False) as server:
        configure(migrated_engine, server.port, user="")
        app = make_app(migrated_db_url, channels="email", smtp_secure="none")
        result = run_alert_scan(app, now=NOW)
    [(_id, _channel, error)] = result.delivery.failed
    assert "STARTTLS" in error or "530" in error
    assert server.messages == []
