"""Notification channels. Each delivers one outbox row and carries its
idempotency key, so a retry after an unclear failure can be recognised:

- ``crm``: the ``notification_log`` row; written in the same transaction that marks
  the outbox row delivered, so it exists exactly once.
- ``message``: ``pnotes`` rows, same transaction; the key is in the body and is
  checked before writing.
- ``email``: SMTP; the key is the ``Message-ID`` and an ``X-Aesthetic-Inventory-Key``
  header (receivers and mail stores de-duplicate on Message-ID).
- ``webhook``: JSON POST signed with HMAC-SHA256; the key travels in ``Idempotency-Key``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from sqlalchemy.engine import Connection

from ..errors import ConfigurationError, DeliveryError
from .config import AlertConfig
from .repositories import OutboxRow, TargetsRepository

DEFAULT_SENDER = "no-reply@openemr.local"
SIGNATURE_HEADER = "X-Aesthetic-Inventory-Signature"
KEY_HEADER = "Idempotency-Key"
MAIL_KEY_HEADER = "X-Aesthetic-Inventory-Key"
MESSAGE_TITLE = "Aesthetic Inventory Alert"

SmtpFactory = Callable[[str, int, str, int], smtplib.SMTP]


def default_smtp_factory(host: str, port: int, secure: str, timeout: int) -> smtplib.SMTP:
    """Open an SMTP connection: implicit TLS for ``ssl``, STARTTLS for ``tls``."""
    if secure == "ssl":
        return smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    client = smtplib.SMTP(host, port, timeout=timeout)
    if secure == "tls":
        client.starttls(context=ssl.create_default_context())
    return client


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
    """OpenEMR's SMTP globals, overridden by the module's settings."""
    names = [
        "SMTP_HOST",
        "SMTP_PORT",
        "SMTP_USER",
        "SMTP_PASS",
        "SMTP_SECURE",
        "practice_return_email_path",
    ]
    g = TargetsRepository(conn).globals(names)
    host = config.smtp_host or g.get("SMTP_HOST", "").strip()
    if not host:
        raise DeliveryError(
            "e-mail channel: no SMTP host (global SMTP_HOST or AESTHETIC_INVENTORY_SMTP_HOST)"
        )
    port = config.smtp_port
    if port is None:
        raw = g.get("SMTP_PORT", "").strip() or "25"
        try:
            port = int(raw)
        except ValueError:
            raise ConfigurationError(f"global SMTP_PORT is not a port number: {raw!r}") from None
    secure = (
        config.smtp_secure
        if config.smtp_secure is not None
        else g.get("SMTP_SECURE", "").strip().lower()
    )
    sender = g.get("practice_return_email_path", "").strip() or DEFAULT_SENDER
    recipient = config.email_to or sender
    return SmtpTarget(
        host=host,
        port=port,
        user=config.smtp_user if config.smtp_user is not None else g.get("SMTP_USER", ""),
        password=config.smtp_password
        if config.smtp_password is not None
        else g.get("SMTP_PASS", ""),
        secure="" if secure == "none" else secure,
        sender=sender,
        recipient=recipient,
    )


@dataclass
class EmailChannel:
    config: AlertConfig
    smtp_factory: SmtpFactory
    name: str = "email"

    def deliver(self, conn: Connection, row: OutboxRow, now: datetime) -> str:
        target = resolve_smtp_target(conn, self.config)
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
        try:
            client = self.smtp_factory(
                target.host, target.port, target.secure, self.config.smtp_timeout_seconds
            )
            try:
                if target.user:
                    client.login(target.user, target.password)
                client.send_message(message)
            finally:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.quit()
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            # The message text of smtplib never contains the password.
            raise DeliveryError(
                f"e-mail to {target.recipient} via {target.host}:{target.port} failed: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        return f"e-mail to {target.recipient}"


def sign(body: bytes, secret: str) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256 of the body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WebhookChannel:
    url: str
    secret: str
    timeout: int = 10
    name: str = "webhook"

    def deliver(self, conn: Connection, row: OutboxRow, now: datetime) -> str:
        body = row.payload_json.encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(body, self.secret),
                KEY_HEADER: row.idempotency_key,
                "User-Agent": "aesthetic-inventory",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            raise DeliveryError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DeliveryError(f"webhook unreachable: {reason}") from None
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
            channels[name] = WebhookChannel(config.webhook_url, config.webhook_secret)
    return channels
