"""Fixtures giving each test a database in its initial state on a real MariaDB/MySQL
server.

The server is the one named by ``AESTHETIC_INVENTORY_TEST_DATABASE_URL`` when that is
set; otherwise a private throwaway server is started once per run (data directory
and socket in a temporary directory, random port) and stopped at the end.

Each kind of database (the fixture schema; the fixture schema migrated) is built once
per session as a template plus a working copy; after each test the copy is put back
to the template's state (:class:`dbtools.TemplateDatabase`): only the tables the test
wrote to are restored, and a copy whose schema the test changed is built again. A test
sees exactly what a freshly built database would hold.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

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


def _build_fixture(server: dbtools.ServerInfo) -> Callable[[str], None]:
    return server.load_fixture_schema


def _build_migrated(server: dbtools.ServerInfo) -> Callable[[str], None]:
    def build(name: str) -> None:
        server.load_fixture_schema(name)
        eng = create_db_engine(server.database_url(name))
        try:
            migrate(eng)
        finally:
            eng.dispose()

    return build


@pytest.fixture(scope="session")
def fixture_template(mysql_server: dbtools.ServerInfo) -> Iterator[dbtools.TemplateDatabase]:
    """The fixture-schema template and its working copy (built on first use)."""
    template = dbtools.TemplateDatabase(mysql_server, _build_fixture(mysql_server), "aitf")
    yield template
    template.drop()


@pytest.fixture(scope="session")
def migrated_template(mysql_server: dbtools.ServerInfo) -> Iterator[dbtools.TemplateDatabase]:
    """The migrated template and its working copy (built on first use)."""
    template = dbtools.TemplateDatabase(mysql_server, _build_migrated(mysql_server), "aitm")
    yield template
    template.drop()


@pytest.fixture
def fixture_db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """URL of a database holding the small OpenEMR-compatible fixture schema, in its
    initial state. A test that also asks for ``migrated_db_url`` gets the migrated
    database here (one database per test, as before)."""
    wanted = "migrated_template" if "migrated_db_url" in request.fixturenames else (
        "fixture_template"
    )
    template: dbtools.TemplateDatabase = request.getfixturevalue(wanted)
    url = template.url()
    try:
        yield url
    finally:
        template.reset()


@pytest.fixture
def engine(fixture_db_url: str) -> Iterator[Engine]:
    """An engine on the fixture database (not migrated unless the test asks for
    ``migrated_db_url`` too)."""
    eng = create_db_engine(fixture_db_url)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def migrated_db_url(fixture_db_url: str) -> str:
    """URL of a fixture database with every upgrade file applied (and the billing
    triggers), in its initial state."""
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
