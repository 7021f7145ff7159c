"""Fuzz the served OpenAPI document against the real server: no input gives a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from conftest import Site, bearer
from hypothesis import HealthCheck, settings
from webserver import LiveServer

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore")]


@pytest.fixture(scope="module")
def api_schema(site: Site, server: LiveServer):  # type: ignore[no-untyped-def]
    # the document is for signed-in users (issue 17 E)
    return schemathesis.openapi.from_url(server.url + "/api/v1/openapi.json",
                                         headers=bearer(server, "admin"))


@pytest.fixture(scope="module")
def admin_headers(server: LiveServer) -> dict[str, str]:
    return bearer(server, "admin")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_makes_the_server_fail(case, admin_headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    headers = dict(admin_headers) if case.operation.path != "/api/v1/auth/token" else {}
    response = case.call(headers=headers)
    assert response.status_code < 500, (case.operation.path, response.text)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"timestamp", "status", "error", "message", "path"}
        assert body["status"] == response.status_code
