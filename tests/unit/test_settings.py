"""Settings resolution and URL handling (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from aesthetic_inventory.bootstrap import build_app
from aesthetic_inventory.db import mask_url, parse_database_url
from aesthetic_inventory.errors import ConfigurationError
from aesthetic_inventory.settings import load_settings


def test_precedence_file_then_env_then_option(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[aesthetic_inventory]\ndatabase_url = "mysql+pymysql://f@h/db"\n'
        'channels = ["crm", "email"]\nsmtp_port = 25\n'
    )
    s = load_settings(config_path=cfg, environ={})
    assert s.database_url == "mysql+pymysql://f@h/db"
    assert s.get("channels") == "crm,email" and s.get_int("smtp_port", 1) == 25
    env = {"AESTHETIC_INVENTORY_DATABASE_URL": "mysql+pymysql://e@h/db"}
    assert load_settings(config_path=cfg, environ=env).database_url.startswith("mysql+pymysql://e@")
    s = load_settings(database_url="mysql+pymysql://o@h/db", config_path=cfg, environ=env)
    assert s.database_url == "mysql+pymysql://o@h/db"


def test_test_server_variable_is_not_a_setting() -> None:
    env = {"AESTHETIC_INVENTORY_TEST_DATABASE_URL": "mysql+pymysql://t@h/"}
    assert load_settings(environ=env).database_url is None


def test_bad_config_file_and_bad_int(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not found"):
        load_settings(config_path=tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("database_url = \n")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        load_settings(config_path=bad, environ={})
    s = load_settings(environ={"AESTHETIC_INVENTORY_HORIZON_DAYS": "soon"})
    with pytest.raises(ConfigurationError, match="AESTHETIC_INVENTORY_HORIZON_DAYS"):
        s.get_int("horizon_days", 30)
    s = load_settings(environ={"AESTHETIC_INVENTORY_HORIZON_DAYS": "-1"})
    with pytest.raises(ConfigurationError, match="at least 0"):
        s.get_int("horizon_days", 30, minimum=0)


def test_urls_are_masked_and_validated() -> None:
    masked = mask_url("mysql+pymysql://openemr:s3cret@db:3306/openemr")
    assert "s3cret" not in masked and "***" in masked
    assert mask_url("::::") == "(malformed URL)"
    assert parse_database_url("mysql://u@h/db").drivername == "mysql+pymysql"
    with pytest.raises(ConfigurationError, match="malformed"):
        parse_database_url("not a url")
    with pytest.raises(ConfigurationError, match="MySQL/MariaDB"):
        parse_database_url("postgresql://u@h/db")


def test_build_app_fails_early_and_without_password() -> None:
    with pytest.raises(ConfigurationError) as info:
        build_app(database_url="postgresql://u:pw123@h/db", environ={})
    assert "pw123" not in str(info.value)
    app = build_app(environ={})
    with pytest.raises(ConfigurationError, match="no database configured"):
        _ = app.engine
