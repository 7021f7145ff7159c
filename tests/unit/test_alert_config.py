"""Alert settings are validated at start with one clear message."""

from __future__ import annotations

import pytest
from aesthetic_inventory.alerts.config import load_alert_config
from aesthetic_inventory.errors import ConfigurationError
from aesthetic_inventory.settings import load_settings


def config(**env: str):
    environ = {f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in env.items()}
    return load_alert_config(load_settings(environ=environ))


def test_defaults() -> None:
    cfg = config()
    assert cfg.channels == ("crm",)
    assert cfg.expiry_horizon_days == 30
    assert cfg.reminder_hours == 24
    assert cfg.service_poll_seconds == 15


def test_channel_list_parsed_and_deduplicated() -> None:
    cfg = config(channels="crm, Email,crm", smtp_port="2525")
    assert cfg.channels == ("crm", "email")
    assert cfg.smtp_port == 2525


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"channels": "crm,fax"}, "unknown channel 'fax'"),
        ({"channels": ""}, None),  # empty falls back to the default, not an error
        ({"smtp_port": "smtp"}, "SMTP_PORT must be a whole number"),
        ({"smtp_port": "70000"}, "1-65535"),
        ({"smtp_secure": "starttls"}, "SMTP_SECURE"),
        ({"channels": "webhook"}, "WEBHOOK_URL"),
        ({"channels": "webhook", "webhook_url": "http://x/h"}, "WEBHOOK_SECRET"),
        ({"webhook_url": "ftp://x"}, "http:// or https://"),
        ({"channels": "message"}, "MESSAGE_TO"),
        ({"expiry_horizon_days": "-1"}, "at least 0"),
        ({"email_to": "nobody"}, "EMAIL_TO"),
        ({"service_poll_seconds": "60"}, "at most 15"),
    ],
)
def test_bad_settings_fail_at_start(env: dict[str, str], needle: str | None) -> None:
    if needle is None:
        assert config(**env).channels == ("crm",)
        return
    with pytest.raises(ConfigurationError, match=needle.replace("(", r"\(")):
        config(**env)


def test_toml_config_sets_the_same_keys(tmp_path) -> None:
    path = tmp_path / "ai.toml"
    path.write_text('channels = ["crm", "message"]\nmessage_to = "admin, nurse"\n')
    cfg = load_alert_config(load_settings(config_path=path, environ={}))
    assert cfg.channels == ("crm", "message")
    assert cfg.message_to == ("admin", "nurse")


def test_password_not_in_repr() -> None:
    cfg = config(smtp_password="s3cret-pw")
    assert "s3cret-pw" not in repr(cfg)
