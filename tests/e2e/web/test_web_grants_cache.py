"""Issue 21: a session's ACL grants are cached for ``web_grants_cache_seconds``; a change
of the user's OpenEMR groups takes effect once that time has passed (at once with 0),
while a deactivated user or a revoked session is refused on the very next request."""

from __future__ import annotations

import time

import pytest
from conftest import PASSWORD, Site, bearer
from sqlalchemy import text
from webserver import start_server

pytestmark = [pytest.mark.e2e]


def _leave_every_group(site: Site, username: str) -> None:
    """What OpenEMR's user admin does when every group is unticked."""
    with site.engine.begin() as conn:
        conn.execute(text(
            "DELETE gm FROM gacl_groups_aro_map gm JOIN gacl_aro o ON o.id = gm.aro_id "
            "WHERE o.section_value = 'users' AND o.value = :u"), {"u": username})


@pytest.mark.parametrize("seconds", ["0", "1"])
def test_acl_change_takes_effect_within_the_cache_time(site: Site, seconds: str) -> None:
    username = f"nurse_moved_{seconds}"
    site.clinic.add_openemr_user(username, ["clin"], password=PASSWORD)
    live = start_server(site.url, web_grants_cache_seconds=seconds)
    path = f"/api/v1/visits/{site.pid}/{site.encounter}/materials"
    try:
        with live.client(headers=bearer(live, username)) as http:
            assert http.get(path).status_code == 200  # grants read and cached
            _leave_every_group(site, username)
            time.sleep(float(seconds) + 0.5)  # past the cache time, never a timing assert
            refused = http.get(path)
    finally:
        live.stop()
    assert refused.status_code == 403


def test_deactivation_is_refused_on_the_next_request_despite_cached_grants(
        site: Site) -> None:
    site.clinic.add_openemr_user("nurse_leaving", ["clin"], password=PASSWORD)
    live = start_server(site.url, web_grants_cache_seconds="3600")
    path = f"/api/v1/visits/{site.pid}/{site.encounter}/materials"
    try:
        with live.client(headers=bearer(live, "nurse_leaving")) as http:
            assert http.get(path).status_code == 200  # grants cached for an hour
            site.clinic.execute("UPDATE users SET active = 0 WHERE username = 'nurse_leaving'")
            refused = http.get(path)
    finally:
        live.stop()
    assert refused.status_code == 401
