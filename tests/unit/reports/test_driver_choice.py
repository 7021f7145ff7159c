"""The optional C driver for long listings (issue 21): a URL naming mysqlclient
(``mysql+mysqldb://``) keeps it, every other MySQL URL uses PyMySQL, and naming it
without the ``[fast]`` extra installed is a one-line configuration error."""

from __future__ import annotations

import sys

import pytest
from aesthetic_inventory.db import create_db_engine, parse_database_url
from aesthetic_inventory.errors import ConfigurationError


def test_only_a_url_naming_mysqldb_uses_mysqlclient() -> None:
    assert parse_database_url("mysql+mysqldb://u:p@h/db").drivername == "mysql+mysqldb"
    assert parse_database_url("mysql://u:p@h/db").drivername == "mysql+pymysql"
    assert parse_database_url("mariadb://u:p@h/db").drivername == "mysql+pymysql"
    assert parse_database_url("mysql+pymysql://u:p@h/db").drivername == "mysql+pymysql"


def test_mysqldb_url_without_the_extra_is_a_configuration_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "MySQLdb", None)  # as if mysqlclient were absent
    with pytest.raises(ConfigurationError, match=r"aesthetic-inventory\[fast\]"):
        create_db_engine("mysql+mysqldb://u:p@127.0.0.1/db")
