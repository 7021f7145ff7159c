"""Alert settings, parsed and validated once at start (never at 3 a.m.).

Keys (environment ``AESTHETIC_INVENTORY_<KEY>`` or the TOML file, lower case):
``channels``, ``expiry_horizon_days``, ``reminder_hours``, ``email_to``, ``smtp_host``,
``smtp_port``, ``smtp_user``, ``smtp_password``, ``smtp_secure``, ``smtp_ca_file``,
``smtp_allow_unencrypted_auth``, ``smtp_timeout_seconds``, ``webhook_url``,
``webhook_secret``, ``webhook_timeout_seconds``, ``message_to``, ``outbox_backoff_seconds``,
``outbox_max_backoff_seconds``, and the service intervals ``service_poll_seconds``,
``service_drain_seconds``, ``service_outbox_seconds``, ``service_sweep_seconds``,
``claim_timeout_minutes``. Each key's kind and bounds live in
:data:`aesthetic_inventory.settings.SETTINGS`; this module adds the rules that tie
several keys together (a channel and what it needs).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigurationError
from ..settings import ENV_PREFIX, Settings, validate_http_url, validate_value

KNOWN_CHANNELS: tuple[str, ...] = ("crm", "email", "webhook", "message")
SMTP_SECURE_VALUES: tuple[str, ...] = ("", "none", "ssl", "tls")


@dataclass(frozen=True)
class AlertConfig:
    """Everything the alert scan, the outbox and the service need to know."""

    channels: tuple[str, ...] = ("crm",)
    expiry_horizon_days: int = 30
    reminder_hours: int = 24
    container_alert_hours: int = 4  # open containers reaching beyond-use within this
    email_to: str | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)  # never shown
    smtp_secure: str | None = None
    smtp_timeout_seconds: int = 10
    smtp_ca_file: str | None = None
    smtp_allow_unencrypted_auth: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_timeout_seconds: int = 10
    message_to: tuple[str, ...] = ()
    outbox_backoff_seconds: int = 60
    outbox_max_backoff_seconds: int = 3600
    service_poll_seconds: int = 15
    service_drain_seconds: float = 0.1
    service_outbox_seconds: int = 30
    service_sweep_seconds: int = 300
    claim_timeout_minutes: int = 60
    digest_max_items_per_kind: int = 50


def _split(raw: str | None) -> tuple[str, ...]:
    if not raw:
        return ()
    return tuple(part.strip() for part in raw.split(",") if part.strip())


# long: one check per alert setting, each with its own message, then the one AlertConfig
def load_alert_config(settings: Settings) -> AlertConfig:
    """Parse and validate every alert setting; a bad one is a :class:`ConfigurationError`."""
    channels = tuple(name.lower() for name in _split(settings.get("channels", "crm")))
    if not channels:
        raise ConfigurationError(f"setting {settings.describe('channels')} names no channel")
    unknown = [name for name in channels if name not in KNOWN_CHANNELS]
    if unknown:
        raise ConfigurationError(
            f"setting {settings.describe('channels')}: unknown channel {unknown[0]!r} "
            f"(known: {', '.join(KNOWN_CHANNELS)})"
        )
    channels = tuple(dict.fromkeys(channels))  # drop repeats, keep order

    smtp_port: int | None = None
    if settings.get("smtp_port") is not None:
        smtp_port = settings.get_int("smtp_port", 25)
    secure = settings.get("smtp_secure")
    if secure is not None and secure.lower() not in SMTP_SECURE_VALUES:
        raise ConfigurationError(
            f"setting {settings.describe('smtp_secure')} must be one of ssl, tls, none or "
            f"empty, got {secure!r}"
        )
    ca_file = settings.get("smtp_ca_file")
    if ca_file is not None:
        validate_value("smtp_ca_file", ca_file, f"setting {settings.describe('smtp_ca_file')}")

    webhook_url = settings.get("webhook_url")
    webhook_secret = settings.get("webhook_secret")
    if "webhook" in channels:
        if not webhook_url:
            raise ConfigurationError(
                f"channel webhook needs {ENV_PREFIX}WEBHOOK_URL (http:// or https://)"
            )
        if not webhook_secret:
            raise ConfigurationError(
                f"channel webhook needs {ENV_PREFIX}WEBHOOK_SECRET to sign the body"
            )
    if webhook_url:
        validate_http_url(webhook_url, f"setting {settings.describe('webhook_url')}")

    message_to = _split(settings.get("message_to"))
    if "message" in channels and not message_to:
        raise ConfigurationError(
            f"channel message needs {ENV_PREFIX}MESSAGE_TO (comma list of OpenEMR usernames)"
        )
    email_to = settings.get("email_to")
    if email_to is not None and "@" not in email_to:
        raise ConfigurationError(
            f"setting {settings.describe('email_to')} is not an e-mail address"
        )

    poll = settings.get_int("service_poll_seconds", 15, minimum=1)
    if poll > 15:
        # The service must notice an admin's change to the background_services row
        # (active, next_run) within 15 seconds.
        raise ConfigurationError(
            f"setting {ENV_PREFIX}SERVICE_POLL_SECONDS must be at most 15, got {poll}"
        )

    return AlertConfig(
        channels=channels,
        expiry_horizon_days=settings.get_int("expiry_horizon_days", 30, minimum=0),
        reminder_hours=settings.get_int("reminder_hours", 24, minimum=0),
        container_alert_hours=settings.get_int("container_alert_hours", 4, minimum=0),
        email_to=email_to,
        smtp_host=settings.get("smtp_host"),
        smtp_port=smtp_port,
        smtp_user=settings.get("smtp_user"),
        smtp_password=settings.get("smtp_password"),
        smtp_secure=secure.lower() if secure is not None else None,
        smtp_timeout_seconds=settings.get_int("smtp_timeout_seconds", 10, minimum=1),
        smtp_ca_file=ca_file,
        smtp_allow_unencrypted_auth=settings.get_bool("smtp_allow_unencrypted_auth"),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        webhook_timeout_seconds=settings.get_int("webhook_timeout_seconds", 10, minimum=1),
        message_to=message_to,
        outbox_backoff_seconds=settings.get_int("outbox_backoff_seconds", 60, minimum=0),
        outbox_max_backoff_seconds=settings.get_int("outbox_max_backoff_seconds", 3600, minimum=1),
        service_poll_seconds=poll,
        # sub-second: the fee sheet's save-to-deducted latency is about half of it (an
        # empty queue costs one indexed read per tick)
        service_drain_seconds=settings.get_float(
            "service_drain_seconds", 0.1, minimum=0.05, maximum=60
        ),
        service_outbox_seconds=settings.get_int("service_outbox_seconds", 30, minimum=1),
        service_sweep_seconds=settings.get_int("service_sweep_seconds", 300, minimum=1),
        claim_timeout_minutes=settings.get_int("claim_timeout_minutes", 60, minimum=1),
        digest_max_items_per_kind=settings.get_int("digest_max_items_per_kind", 50, minimum=1),
    )
