"""Fixtures giving each test a fresh database on a real MariaDB/MySQL server.

The server is the one named by ``AESTHETIC_INVENTORY_TEST_DATABASE_URL`` when that is
set; otherwise a private throwaway server is started once per run (data directory
and socket in a temporary directory, random port) and stopped at the end.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dbtools
import pytest
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.private_server import PrivateServer
from aesthetic_inventory.scratch import server_url
from clinic import Clinic
from sqlalchemy.engine import Engine

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[dbtools.ServerInfo]:
    """The test server: configured by URL, or a private one for this run."""
    configured = os.environ.get("AESTHETIC_INVENTORY_TEST_DATABASE_URL")
    if configured:
        info = dbtools.ServerInfo(
            url=server_url(configured).render_as_string(hide_password=False)
        )
        yield info
        for name in info.created:  # what a failed test left behind (IF EXISTS)
            info.drop_database(name)
        return
    server = PrivateServer()
    server.start()
    try:
        yield dbtools.ServerInfo(url=server.url)
    finally:
        server.stop()


@pytest.fixture
def fixture_db_url(mysql_server: dbtools.ServerInfo) -> Iterator[str]:
    """URL of a fresh database holding the small OpenEMR-compatible fixture schema."""
    name = mysql_server.create_database()
    mysql_server.load_fixture_schema(name)
    try:
        yield mysql_server.database_url(name)
    finally:
        mysql_server.drop_database(name)


@pytest.fixture
def engine(fixture_db_url: str) -> Iterator[Engine]:
    """An engine on a fresh fixture database (not yet migrated)."""
    eng = create_db_engine(fixture_db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrated_db_url(fixture_db_url: str) -> str:
    """URL of a fresh fixture database with every upgrade file applied (and the
    billing triggers, where the consumption engine installs them)."""
    eng = create_db_engine(fixture_db_url)
    try:
        migrate(eng)
    finally:
        eng.dispose()
    return fixture_db_url


@pytest.fixture
def migrated_engine(migrated_db_url: str) -> Iterator[Engine]:
    """An engine on a fresh, migrated fixture database."""
    eng = create_db_engine(migrated_db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def clinic(migrated_engine: Engine) -> Clinic:
    """The shared clinic builder on a fresh, migrated fixture database."""
    return Clinic(migrated_engine)


@pytest.fixture(scope="module")
def openemr_db_url(mysql_server: dbtools.ServerInfo) -> Iterator[str]:
    """URL of a database loaded with the full real OpenEMR schema (one per module).

    In CI a missing schema file or client is a failure, never a skip.
    """
    if not dbtools.OPENEMR_SCHEMA.is_file():
        message = (
            f"real OpenEMR schema not found at {dbtools.OPENEMR_SCHEMA}: set "
            "AESTHETIC_INVENTORY_OPENEMR_SCHEMA to OpenEMR's sql/database.sql"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message + " (outside CI only)")
    name = mysql_server.create_database("aioe")
    mysql_server.load_openemr_schema(name)
    try:
        yield mysql_server.database_url(name)
    finally:
        mysql_server.drop_database(name)
