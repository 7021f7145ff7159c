"""The one registry of settings: every key the module reads, its kind and its bounds
(:data:`SETTINGS`), and the query options a database URL may carry. Loading and
checking the values is :mod:`aesthetic_inventory.settings`; the reference page
``docs/reference/settings.md`` is generated from this registry."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SettingSpec:
    """What one setting accepts.

    ``kind`` is one of ``text``, ``secret`` (never shown), ``int`` and ``float``
    (``minimum`` and ``maximum`` inclusive), ``bool``, ``list`` (comma list), ``choice`` (one of
    ``choices``, case-insensitive, empty allowed), ``file`` (an existing readable
    file), ``http_url`` and ``database_url``.
    """

    key: str
    kind: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


_DAY = 86_400

# The one registry of valid keys. A branch that reads a new setting adds it here
# (tests/unit/test_settings_registry.py fails for a key read in the code but missing).
SETTINGS: dict[str, SettingSpec] = {
    spec.key: spec
    for spec in (
        SettingSpec("database_url", "database_url", "SQLAlchemy URL of the OpenEMR database"),
        SettingSpec("service_username", "text", "user written on consumption rows"),
        # alerts and channels (module/alerts/config.py)
        SettingSpec("channels", "list", "comma list of crm, email, webhook, message"),
        SettingSpec("expiry_horizon_days", "int", "expiring-lot horizon", 0, 3650),
        SettingSpec("reminder_hours", "int", "re-alert an unchanged item after", 0, 8760),
        SettingSpec("email_to", "text", "e-mail recipient"),
        SettingSpec("smtp_host", "text", "SMTP server (overrides OpenEMR's SMTP_HOST)"),
        SettingSpec("smtp_port", "int", "SMTP port (overrides SMTP_PORT)", 1, 65535),
        SettingSpec("smtp_user", "text", "SMTP user (overrides SMTP_USER)"),
        SettingSpec("smtp_password", "secret", "SMTP password (overrides SMTP_PASS)"),
        SettingSpec(
            "smtp_secure",
            "choice",
            "ssl, tls or none (overrides SMTP_SECURE)",
            choices=("", "none", "ssl", "tls"),
        ),
        SettingSpec("smtp_timeout_seconds", "int", "SMTP connect/read timeout", 1, 600),
        SettingSpec("smtp_ca_file", "file", "PEM file of the CAs that sign the SMTP certificate"),
        SettingSpec(
            "smtp_allow_unencrypted_auth", "bool", "allow SMTP AUTH on a connection without TLS"
        ),
        SettingSpec("webhook_url", "http_url", "where the webhook channel POSTs"),
        SettingSpec("webhook_secret", "secret", "HMAC-SHA256 key of the webhook signature"),
        SettingSpec("webhook_timeout_seconds", "int", "webhook connect/read timeout", 1, 600),
        SettingSpec("message_to", "list", "OpenEMR usernames for the message channel"),
        SettingSpec("outbox_backoff_seconds", "int", "first retry delay", 0, _DAY),
        SettingSpec("outbox_max_backoff_seconds", "int", "longest retry delay", 1, 30 * _DAY),
        SettingSpec("digest_max_items_per_kind", "int", "items listed per kind", 1, 100_000),
        # the background service (module/scheduler.py)
        SettingSpec("service_poll_seconds", "int", "background_services check", 1, 15),
        SettingSpec(
            "service_drain_seconds", "float", "change-queue check interval (seconds, 0.05-60)",
            0.05, 60,
        ),
        SettingSpec("service_outbox_seconds", "int", "outbox delivery interval", 1, 3600),
        SettingSpec("service_sweep_seconds", "int", "sweep-mode fallback interval", 1, _DAY),
        SettingSpec("claim_timeout_minutes", "int", "stale claim age", 1, 7 * 24 * 60),
        # the web face (module/web/config.py)
        SettingSpec("web_secret", "secret", "signs session cookies and bearer tokens"),
        SettingSpec("openemr_launch_secret", "secret",
                    "shared with the OpenEMR menu module: signs launch tokens"),
        SettingSpec("web_session_seconds", "int", "session cookie lifetime", 60, 7 * _DAY),
        SettingSpec("web_token_seconds", "int", "bearer token lifetime", 60, 7 * _DAY),
        SettingSpec("web_launch_max_age", "int", "oldest accepted launch token (s)", 5, 3600),
        SettingSpec("web_cookie_secure", "bool", "mark cookies Secure (behind TLS)"),
        SettingSpec("web_login_attempts", "int", "sign-ins per window per address/user",
                    1, 1_000_000),
        SettingSpec("web_login_window_seconds", "int", "sign-in rate-limit window", 1, _DAY),
        SettingSpec("web_frame_ancestors", "text", "CSP frame-ancestors of the pages"),
        SettingSpec("web_root_path", "text", "path prefix behind the reverse proxy"),
        SettingSpec("web_threads", "int", "request worker threads (pool size)", 1, 64),
        SettingSpec("web_trusted_proxies", "list",
                    "addresses/networks of reverse proxies whose X-Forwarded-For/-Proto "
                    "is believed (default none)"),
        SettingSpec("web_max_body_bytes", "int", "largest request body, refused before "
                    "sign-in checks (413)", 1024, 64 * 1024 * 1024),
        SettingSpec("web_public_openapi", "bool", "serve the OpenAPI document without sign-in"),
        SettingSpec("web_hsts_seconds", "int", "Strict-Transport-Security max-age over TLS",
                    0, 2 * 365 * _DAY),
        SettingSpec("web_grants_cache_seconds", "int",
                    "how long a session's ACL grants are reused", 0, 3600),
        # the consumption engine's lot policy (module/consumption/domain.py LotPolicy)
        SettingSpec(
            "sell_from_one_warehouse", "bool",
            "sell only from the user's default warehouse (OpenEMR's SELL_FROM_ONE_WAREHOUSE)",
        ),
        # open containers (module/containers, jobs/containers_waste.py)
        SettingSpec(
            "container_grace_hours", "int",
            "hours after beyond-use before what is left is written off as waste", 0, 24 * 31,
        ),
        SettingSpec(
            "container_alert_hours", "int",
            "the digest lists open containers reaching beyond-use within these hours", 0, 168,
        ),
        SettingSpec(
            "block_days_before_expiry", "int",
            "do not take lots expiring within this many days of the sale", 0, 36500,
        ),
        # the recall room (module/recall/documents.py)
        SettingSpec("recall_letter_template", "file",
                    "the clinic's own recall letter (Jinja2 HTML; default: the built-in one)"),
    )
}

# Query options a database URL may carry: what SQLAlchemy's PyMySQL dialect and
# PyMySQL itself understand and what makes sense for this module. Anything else would
# reach PyMySQL's connect() as an unexpected keyword argument.
DATABASE_URL_OPTIONS: dict[str, str] = {
    "charset": "text",
    "collation": "text",
    "connect_timeout": "seconds",
    "read_timeout": "seconds",
    "write_timeout": "seconds",
    "unix_socket": "text",
    "bind_address": "text",
    "program_name": "text",
    "init_command": "text",
    "ssl_ca": "file",
    "ssl_cert": "file",
    "ssl_key": "file",
    "ssl_capath": "directory",
    "ssl_cipher": "text",
    "ssl_check_hostname": "bool",
    "ssl_verify_cert": "bool",
    "ssl_verify_identity": "bool",
    "ssl_disabled": "bool",
}
