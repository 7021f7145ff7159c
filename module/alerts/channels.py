"""Notification channels. Each delivers one outbox row and carries its
idempotency key, so a retry after an unclear failure can be recognised:

- ``crm``: the ``notification_log`` row; written in the same transaction that marks
  the outbox row delivered, so it exists exactly once.
- ``message``: ``pnotes`` rows, same transaction; the key is in the body and is
  checked before writing.
- ``email``: SMTP as OpenEMR's PHPMailer does it by default: implicit TLS for
  ``SMTP_SECURE=ssl``, STARTTLS whenever the server offers it (required for ``tls``),
  certificates verified; the password is never sent on a connection without TLS
  unless ``smtp_allow_unencrypted_auth`` says so. The key is the ``Message-ID`` and an
  ``X-Aesthetic-Inventory-Key`` header (mail stores de-duplicate on Message-ID).
- ``webhook``: JSON POST (httpx, redirects not followed: a redirect is not a
  delivery) signed with HMAC-SHA256 over ``<unix time>.<body>``; the key travels in
  ``Idempotency-Key``.

A channel raises :class:`ChannelUnavailableError` when nothing can get through now
(server down, TLS refused) and :class:`DeliveryError` for one row; the outbox treats
any other exception as a failure of that row too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import httpx
from sqlalchemy.engine import Connection

from ..errors import ChannelUnavailableError, ConfigurationError, DeliveryError
from .config import AlertConfig
from .repositories import OutboxRow, TargetsRepository

DEFAULT_SENDER = "no-reply@openemr.local"
SIGNATURE_HEADER = "X-Aesthetic-Inventory-Signature"
KEY_HEADER = "Idempotency-Key"
MAIL_KEY_HEADER = "X-Aesthetic-Inventory-Key"
MESSAGE_TITLE = "Aesthetic Inventory Alert"
# How old a signed timestamp a receiver should accept (documented in the README):
# every attempt is signed afresh, so a late retry is never outside the window.
REPLAY_WINDOW_SECONDS = 300

# (host, port, implicit_tls, timeout seconds, TLS context) -> a connected client
SmtpFactory = Callable[[str, int, bool, int, ssl.SSLContext], smtplib.SMTP]


def default_smtp_factory(
    host: str, port: int, implicit_tls: bool, timeout: int, context: ssl.SSLContext
) -> smtplib.SMTP:
    """Open an SMTP connection: TLS from the first byte for ``implicit_tls`` (port
    465 style), else a plain connection that :class:`EmailChannel` may upgrade."""
    if implicit_tls:
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
    return smtplib.SMTP(host, port, timeout=timeout)


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying client context: the system CAs, or only those of ``ca_file``."""
    return ssl.create_default_context(cafile=ca_file)


class Channel(Protocol):
    name: str

    def deliver(self, conn: Connection, row: OutboxRow, now: datetime) -> str:
        """Deliver ``row``; return a short note; raise :class:`DeliveryError` on failure."""


def sender_address(conn: Connection) -> str:
    """``practice_return_email_path`` or the seed's fallback sender."""
    value = (
        TargetsRepository(conn)
        .globals(["practice_return_email_path"])
        .get("practice_return_email_path", "")
    )
    return value.strip() or DEFAULT_SENDER


TEXT_COLUMN_BYTES = 65535  # notification_log.message is a TEXT column
TRUNCATED_NOTE = "\n[digest truncated; the e-mail and webhook carry every item]\n"


def fit_bytes(text: str, limit: int = TEXT_COLUMN_BYTES) -> str:
    """Cut ``text`` so its UTF-8 form fits ``limit`` bytes (never mid-character),
    so a huge digest cannot fail the CRM row forever under strict sql_mode."""
    encoded = text.encode()
    if len(encoded) <= limit:
        return text
    room = limit - len(TRUNCATED_NOTE.encode())
    return encoded[:room].decode(errors="ignore") + TRUNCATED_NOTE


@dataclass
class CrmChannel:
    name: str = "crm"

    def deliver(self, conn: Connection, row: OutboxRow, now: datetime) -> str:
        message = fit_bytes(row.body_text)
        log_id = TargetsRepository(conn).insert_crm_log(message, sender_address(conn), now)
        return f"notification_log {log_id}"


@dataclass
class MessageChannel:
    recipients: tuple[str, ...]
    name: str = "message"

    def deliver(self, conn: Connection, row: OutboxRow, now: datetime) -> str:
        repo = TargetsRepository(conn)
        marker = f"[ref {row.idempotency_key}]"
        if repo.message_exists(marker):
            return "already written"
        body = f"{row.body_text.rstrip()}\n\n{marker}"
        repo.insert_messages(MESSAGE_TITLE, body, "admin", self.recipients, now)
        return f"pnotes to {', '.join(self.recipients)}"


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to send mail; the password is never part of the repr."""

    host: str
    port: int
    user: str
    password: str
    secure: str
    sender: str
    recipient: str

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        return f"SmtpTarget(host={self.host!r}, port={self.port}, user={self.user!r}, ...)"


def resolve_smtp_target(conn: Connection, config: AlertConfig) -> SmtpTarget:
    """OpenEMR's SMTP globals, overridden by the module's settings.

    A missing host or a malformed global is a :class:`ConfigurationError` (checked at
    start by :func:`check_email_setup`; during delivery it fails the row)."""
    names = [
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASS",
        "SMTP_SECURE",
        "practice_return_email_path",
    ]
    g = TargetsRepository(conn).globals(names)
    host = config.smtp_host or (g.get("SMTP_HOST") or "").strip()
    if not host:
        raise ConfigurationError(
            "channel email needs an SMTP host: set OpenEMR's global SMTP_HOST "
            "(Administration > Config > Notifications) or AESTHETIC_INVENTORY_SMTP_HOST"
        )
    port = config.smtp_port
    if port is None:
        raw = (g.get("SMTP_PORT") or "").strip() or "25"
        if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 65535:
            raise ConfigurationError(
                f"OpenEMR's global SMTP_PORT is not a port number (1-65535): {raw[:20]!r}; "
                "fix it or set AESTHETIC_INVENTORY_SMTP_PORT"
            )
        port = int(raw)
    secure = (
        config.smtp_secure
        if config.smtp_secure is not None
        else (g.get("SMTP_SECURE") or "").strip().lower()
    )
    if secure not in ("", "none", "ssl", "tls"):
        raise ConfigurationError(
            f"OpenEMR's global SMTP_SECURE must be ssl, tls or empty, got {secure[:20]!r}; "
            "fix it or set AESTHETIC_INVENTORY_SMTP_SECURE"
        )
    sender = (g.get("practice_return_email_path") or "").strip() or DEFAULT_SENDER
    recipient = config.email_to or sender
    return SmtpTarget(
        host=host,
        port=port,
        user=config.smtp_user if config.smtp_user is not None else g.get("SMTP_USER") or "",
        password=config.smtp_password
        if config.smtp_password is not None
        else g.get("SMTP_PASS") or "",
        secure=secure,
        sender=sender,
        recipient=recipient,
    )


def check_email_setup(conn: Connection, config: AlertConfig) -> None:
    """At start: the e-mail channel has a host, a valid port and TLS mode (from the
    settings or OpenEMR's globals). Raises :class:`ConfigurationError`."""
    if "email" in config.channels:
        resolve_smtp_target(conn, config)


def build_email(row: OutboxRow, target: SmtpTarget) -> EmailMessage:
    """The message of one outbox row (raises ``ValueError`` for a header value with a
    line break, e.g. a sender global that tries to add headers)."""
    message = EmailMessage()
    message["Subject"] = row.subject
    message["From"] = target.sender
    message["To"] = target.recipient
    message["Date"] = formatdate(localtime=True)
    domain = target.sender.rsplit("@", 1)[-1] or "openemr.local"
    message["Message-ID"] = f"<{row.idempotency_key}@{domain}>"
    message[MAIL_KEY_HEADER] = row.idempotency_key
    message.set_content(row.body_text)
    message.add_alternative(row.body_html, subtype="html")
    return message


def _tls_failure(exc: BaseException, where: str) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"e-mail via {where}: the server's TLS certificate is not trusted "
            f"({exc.verify_message}); set AESTHETIC_INVENTORY_SMTP_CA_FILE to the PEM file "
            "of the CA that signed it"
        )
    return f"e-mail via {where} failed: {type(exc).__name__}: {exc}"


@dataclass
class EmailChannel:
    config: AlertConfig
    smtp_factory: SmtpFactory
    name: str = "email"

    def deliver(self, conn: Connection, row: OutboxRow, now: datetime) -> str:
        target = resolve_smtp_target(conn, self.config)
        message = build_email(row, target)
        where = f"{target.host}:{target.port}"
        context = tls_context(self.config.smtp_ca_file)
        implicit = target.secure == "ssl"
        timeout = self.config.smtp_timeout_seconds
        try:
            client = self.smtp_factory(target.host, target.port, implicit, timeout, context)
        except (OSError, smtplib.SMTPException) as exc:  # refused, timeout, TLS handshake
            raise ChannelUnavailableError(_tls_failure(exc, where)) from None
        try:
            encrypted = self._negotiate_tls(client, target, context, where, implicit)
            if target.user:
                if not encrypted and not self.config.smtp_allow_unencrypted_auth:
                    raise ChannelUnavailableError(
                        f"e-mail via {where}: refusing to send the SMTP password over a "
                        "connection without TLS (the server offers no STARTTLS); use "
                        "SMTP_SECURE ssl or a server with STARTTLS, or set "
                        "AESTHETIC_INVENTORY_SMTP_ALLOW_UNENCRYPTED_AUTH=true"
                    )
                client.login(target.user, target.password)
            client.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # smtplib's messages never contain the password
            raise ChannelUnavailableError(_tls_failure(exc, where)) from None
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.quit()
        return f"e-mail to {target.recipient}"

    @staticmethod
    def _negotiate_tls(
        client: smtplib.SMTP,
        target: SmtpTarget,
        context: ssl.SSLContext,
        where: str,
        implicit: bool,
    ) -> bool:
        """STARTTLS as PHPMailer's SMTPAutoTLS: whenever the server offers it (unless
        SMTP_SECURE is ``none``), required for ``tls``. True when the link is encrypted."""
        if implicit:
            return True
        client.ehlo()
        if target.secure != "none" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
            return True
        if target.secure == "tls":
            raise ChannelUnavailableError(
                f"e-mail via {where}: SMTP_SECURE is tls but the server does not offer STARTTLS"
            )
        return False


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value: ``t=<unix time>,v1=<hex HMAC-SHA256>`` of
    ``<unix time>.<body>`` with ``secret``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    header: str,
    body: bytes,
    secret: str,
    *,
    now: float | None = None,
    tolerance: int = REPLAY_WINDOW_SECONDS,
) -> bool:
    """What a receiver does: the HMAC matches and the timestamp is within
    ``tolerance`` seconds of ``now`` (a replayed old request is refused)."""
    fields: dict[str, str] = {}
    for part in header.split(","):
        key, _sep, value = part.strip().partition("=")
        fields.setdefault(key, value)
    stamp = fields.get("t", "")
    if not stamp.isascii() or not stamp.isdigit() or "v1" not in fields:
        return False
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = signature_header(secret, body, timestamp).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, fields["v1"])


@dataclass
class WebhookChannel:
    url: str
    secret: str
    timeout: int = 10
    name: str = "webhook"

    def deliver(self, conn: Connection, row: OutboxRow, now: datetime) -> str:
        body = row.payload_json.encode()
        headers = {
            "Content-Type": "application/json",
            # signed at send time, so every retry carries a fresh timestamp
            SIGNATURE_HEADER: signature_header(self.secret, body, int(time.time())),
            KEY_HEADER: row.idempotency_key,
            "User-Agent": "aesthetic-inventory",
        }
        # The URL may carry a token: it is never part of a message.
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(self.url, content=body, headers=headers)
        except httpx.TimeoutException:
            raise ChannelUnavailableError(
                f"webhook did not answer within {self.timeout} s"
            ) from None
        except httpx.ConnectError as exc:
            raise ChannelUnavailableError(f"webhook unreachable: {exc}") from None
        except httpx.HTTPError as exc:  # a malformed answer (bad status line...)
            raise DeliveryError(
                f"webhook answered with a malformed HTTP response: {type(exc).__name__}: {exc}"
            ) from None
        status = response.status_code
        if 300 <= status < 400:
            location = response.headers.get("location", "")[:200]
            raise DeliveryError(
                f"webhook answered HTTP {status} (redirect to {location or '?'}): a redirect "
                "is not a delivery; set AESTHETIC_INVENTORY_WEBHOOK_URL to the final address"
            )
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook answered HTTP {status}")
        return f"webhook HTTP {status}"


def build_channels(
    config: AlertConfig, smtp_factory: SmtpFactory | None = None
) -> dict[str, Channel]:
    """The configured channels by name."""
    channels: dict[str, Channel] = {}
    for name in config.channels:
        if name == "crm":
            channels[name] = CrmChannel()
        elif name == "message":
            channels[name] = MessageChannel(config.message_to)
        elif name == "email":
            channels[name] = EmailChannel(config, smtp_factory or default_smtp_factory)
        elif name == "webhook":
            assert config.webhook_url and config.webhook_secret  # validated by the config
            channels[name] = WebhookChannel(
                config.webhook_url, config.webhook_secret, config.webhook_timeout_seconds
            )
    return channels
