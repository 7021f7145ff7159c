"""The one registry of settings: every key the code reads is in it, every value
is checked against it at load time, and the TOML file may only name known keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aesthetic_inventory.errors import ConfigurationError
from aesthetic_inventory.settings import SETTINGS, load_settings, validate_database_url

REPO = Path(__file__).resolve().parents[2]
READ = re.compile(r"settings\.get(?:_int|_bool)?\(\s*[\"']([a-z0-9_]+)[\"']")


def test_every_key_read_by_the_code_is_registered() -> None:
    read: dict[str, str] = {}
    for folder in ("module", "jobs"):
        for path in (REPO / folder).rglob("*.py"):
            for key in READ.findall(path.read_text(encoding="utf-8")):
                read.setdefault(key, str(path.relative_to(REPO)))
    assert "smtp_ca_file" in read  # the scan sees the code
    missing = {key: where for key, where in read.items() if key not in SETTINGS}
    assert missing == {}, "add these keys to aesthetic_inventory.settings.SETTINGS"


def test_every_registered_key_is_documented_in_the_settings_reference() -> None:
    # The reference page is generated from the registry (scripts/gen_reference.py) and
    # the README links to it; tests/unit/test_docs_reference.py keeps it current.
    reference = (REPO / "docs" / "reference" / "settings.md").read_text(encoding="utf-8")
    undocumented = [key for key in SETTINGS if key.upper() not in reference]
    assert undocumented == []
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/reference/settings.md" in readme


def load(**env: str):
    return load_settings(environ={f"AESTHETIC_INVENTORY_{k.upper()}": v for k, v in env.items()})


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"smtp_port": "65536"}, "AESTHETIC_INVENTORY_SMTP_PORT must be a TCP port (1-65535)"),
        ({"smtp_timeout_seconds": "0"}, "must be at least 1"),
        ({"service_sweep_seconds": "1_000"}, "must be a whole number"),
        ({"claim_timeout_minutes": "٣"}, "must be a whole number"),  # not ASCII digits
        ({"outbox_backoff_seconds": "9" * 400}, "is out of range"),
        ({"smtp_secure": "starttls"}, "must be one of none, ssl, tls (or empty)"),
        ({"smtp_allow_unencrypted_auth": "sometimes"}, "must be true or false"),
        ({"webhook_url": "hooks.example/x"}, "must be an http:// or https:// URL"),
        ({"webhook_url": "https://hooks.example:0/x"}, "has a bad port"),
    ],
)
def test_values_are_checked_when_loaded(env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load(**env)
    assert needle in str(info.value)


def test_good_values_load_and_convert() -> None:
    s = load(smtp_port="587", smtp_allow_unencrypted_auth="Yes", outbox_backoff_seconds="0")
    assert s.get_int("smtp_port", 25) == 587
    assert s.get_bool("smtp_allow_unencrypted_auth") is True
    assert s.get_bool("smtp_allow_unencrypted_auth_typo", False) is False
    assert s.get_int("outbox_backoff_seconds", 60) == 0


def test_unknown_environment_variables_are_ignored() -> None:
    s = load(smtp_hots="x", bin="/opt/ai")
    assert s.get("smtp_host") is None


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ('smtp_hots = "x"\n', "unknown setting 'smtp_hots'"),
        ('[aesthetic_inventory]\nsmtp_port = 25\n[smtp]\nhost = "x"\n', "unknown setting 'smtp'"),
        ('[aesthetic_inventory]\n[aesthetic_inventory.smtp]\nhost = "x"\n', "unknown setting"),
        ('channels = "crm"\n[aesthetic_inventory]\nsmtp_port = 25\n', "unknown setting 'channels'"),
        ("smtp_port = 1e400\n", "SMTP_PORT"),
        ("smtp_port = 99999999999999999999999\n", "smtp_port in config file"),
    ],
)
def test_toml_file_names_only_known_keys(tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "ai.toml"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as info:
        load_settings(config_path=path, environ={})
    message = str(info.value)
    assert needle.replace("SMTP_PORT", "smtp_port") in message and str(path) in message


def test_database_url_parts() -> None:
    validate_database_url("mysql+pymysql://u:p@h:3306/db?charset=utf8mb4&connect_timeout=5")
    for url, needle in [
        ("mysql+pymysql://u@h:65536/db", "bad port 65536"),
        ("mysql+pymysql://u@h/db?ssl_verify_cert=maybe", "must be true or false"),
        ("mysql+pymysql://u@h/db?ssl_capath=/nonexistent", "directory not found"),
        ("mysql+pymysql://u@h/db?charset=a&charset=b", "given more than once"),
        ("mysql+pymysql://u@h/db?autocommit=1", "unknown query option 'autocommit'"),
    ]:
        with pytest.raises(ConfigurationError, match=re.escape(needle)):
            validate_database_url(url)
