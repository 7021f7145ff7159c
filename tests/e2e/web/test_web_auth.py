"""Sign-in as OpenEMR users, sessions, bearer tokens, CSRF: against a real server."""

from __future__ import annotations

import re
import time

import pytest
from argon2 import PasswordHasher
from conftest import PASSWORD, Site, bearer, login_cookie
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from webserver import WEB_SECRET, LiveServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]


def _form_token(text: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', text).group(1)


def _fail_counter(site: Site, username: str) -> int:
    return int(site.clinic.scalar(
        "SELECT login_fail_counter FROM users_secure WHERE username = :u", {"u": username}))


def test_sign_in_sets_signed_httponly_samesite_cookie_with_expiry(server: LiveServer) -> None:
    with server.client() as http:
        page = http.get("/login")
        resp = http.post("/login", data={"username": "nurse", "password": PASSWORD,
                                         "csrf_token": _form_token(page.text)})
    assert resp.status_code == 303
    header = [h for h in resp.headers.get_list("set-cookie") if h.startswith("ai_session=")][0]
    assert "HttpOnly" in header and "SameSite=lax" in header and "Max-Age=28800" in header


def test_wrong_password_is_refused_and_counted(site: Site, server: LiveServer) -> None:
    before = _fail_counter(site, "doctor")
    with server.client() as http:
        page = http.get("/login")
        resp = http.post("/login", data={"username": "doctor", "password": "nope",
                                         "csrf_token": _form_token(page.text)})
    assert resp.status_code == 401
    assert "invalid username or password" in resp.text
    assert "ai_session" not in resp.cookies
    assert _fail_counter(site, "doctor") == before + 1
    login_cookie(server, "doctor")  # a success resets OpenEMR's counter
    assert _fail_counter(site, "doctor") == 0


def test_locked_user_is_refused_even_with_the_right_password(site: Site,
                                                             server: LiveServer) -> None:
    site.clinic.add_openemr_user("locked", ["clin"], password=PASSWORD)
    site.clinic.execute("UPDATE users_secure SET login_fail_counter = 20, "
                        "last_login_fail = NOW() WHERE username = 'locked'")
    with server.client() as http:
        resp = http.post("/api/v1/auth/token", json={"username": "locked",
                                                     "password": PASSWORD})
    assert resp.status_code == 401
    assert resp.json()["message"] == "invalid username or password"
    assert _fail_counter(site, "locked") == 21


def test_lock_expires_after_openemr_reset_window(site: Site, server: LiveServer) -> None:
    site.clinic.add_openemr_user("waited", ["clin"], password=PASSWORD)
    site.clinic.execute("UPDATE users_secure SET login_fail_counter = 25, "
                        "last_login_fail = NOW() - INTERVAL 2 HOUR WHERE username = 'waited'")
    assert bearer(server, "waited")
    assert _fail_counter(site, "waited") == 0


def test_inactive_user_is_refused(site: Site, server: LiveServer) -> None:
    site.clinic.add_openemr_user("gone", ["clin"], password=PASSWORD, active=0)
    with server.client() as http:
        resp = http.post("/api/v1/auth/token", json={"username": "gone", "password": PASSWORD})
    assert resp.status_code == 401


def test_argon2_hash_as_openemr_writes_it(site: Site, server: LiveServer) -> None:
    site.clinic.add_openemr_user("argon", ["clin"], password=None,
                                 password_hash=PasswordHasher().hash("argon-pass"))
    assert bearer(server, "argon", "argon-pass")
    with server.client() as http:
        resp = http.post("/api/v1/auth/token", json={"username": "argon", "password": "x"})
    assert resp.status_code == 401


def test_username_is_case_sensitive_like_openemr(server: LiveServer) -> None:
    with server.client() as http:
        resp = http.post("/api/v1/auth/token", json={"username": "NURSE", "password": PASSWORD})
    assert resp.status_code == 401


def test_login_post_without_csrf_token_is_forbidden(server: LiveServer) -> None:
    with server.client() as http:
        resp = http.post("/login", data={"username": "nurse", "password": PASSWORD})
    assert resp.status_code == 403
    assert "ai_session" not in resp.cookies


def test_missing_forged_and_expired_credentials_get_401_json(server: LiveServer) -> None:
    old = URLSafeTimedSerializer(WEB_SECRET, salt="aesthetic-inventory-api-token",
                                 signer=_PastSigner)
    expired = old.dumps({"u": "admin", "n": "x"})
    other = URLSafeTimedSerializer("another-secret", salt="aesthetic-inventory-api-token")
    forged = other.dumps({"u": "admin", "n": "x"})
    with server.client() as http:
        for headers in ({}, {"Authorization": "Bearer " + forged},
                        {"Authorization": "Bearer " + expired},
                        {"Authorization": "Bearer garbage"}):
            resp = http.get("/api/v1/me", headers=headers)
            assert resp.status_code == 401
            body = resp.json()
            assert set(body) == {"timestamp", "status", "error", "message", "path"}
            assert (body["status"], body["error"], body["path"]) == (
                401, "Unauthorized", "/api/v1/me")


class _PastSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 10 * 86400


def test_forged_or_expired_cookie_sends_the_page_to_sign_in(server: LiveServer) -> None:
    cookie, _ = login_cookie(server, "nurse")
    old = URLSafeTimedSerializer(WEB_SECRET, salt="aesthetic-inventory-session",
                                 signer=_PastSigner).dumps({"u": "nurse", "c": "x"})
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    with server.client() as http:
        assert http.get("/", cookies={"ai_session": cookie}).status_code == 200
        for bad in (tampered, old, "x"):
            resp = http.get("/", cookies={"ai_session": bad})
            assert resp.status_code == 303 and resp.headers["location"].endswith("/login")
            assert http.get("/api/v1/me", cookies={"ai_session": bad}).status_code == 401


def test_session_cannot_be_turned_into_another_users(server: LiveServer) -> None:
    front_cookie, front_csrf = login_cookie(server, "front")
    nurse_cookie, nurse_csrf = login_cookie(server, "nurse")
    payload, _, _sig = front_cookie.partition(".")
    nurse_payload = nurse_cookie.partition(".")[0]
    spliced = nurse_payload + front_cookie[len(payload):]
    with server.client() as http:
        assert http.get("/api/v1/me", cookies={"ai_session": spliced}).status_code == 401
        me = http.get("/api/v1/me", cookies={"ai_session": front_cookie}).json()
        assert me["username"] == "front"
        # the nurse's CSRF token does not unlock a write with the front desk's session
        resp = http.put("/api/v1/visits/1/1001/materials",
                        cookies={"ai_session": front_cookie},
                        headers={"X-CSRF-Token": nurse_csrf},
                        json={"materials": [{"usageId": 1, "actualQuantity": 1}]})
        assert resp.status_code == 403
        assert resp.json()["message"] == "CSRF token missing or invalid"


def test_cookie_write_without_csrf_header_is_forbidden(site: Site, server: LiveServer) -> None:
    cookie, csrf = login_cookie(server, "nurse")
    body = {"materials": [{"usageId": site.mapping_id, "actualQuantity": 1}]}
    with server.client() as http:
        resp = http.put(f"/api/v1/visits/{site.pid}/{site.encounter}/materials",
                        cookies={"ai_session": cookie}, json=body)
    assert resp.status_code == 403
    assert resp.json()["message"] == "CSRF token missing or invalid"


def test_logout_needs_the_form_token(server: LiveServer) -> None:
    cookie, csrf = login_cookie(server, "nurse")
    with server.client() as http:
        assert http.post("/logout", cookies={"ai_session": cookie}).status_code == 403
        resp = http.post("/logout", cookies={"ai_session": cookie}, data={"csrf_token": csrf})
        assert resp.status_code == 303
        assert 'ai_session=""' in resp.headers["set-cookie"]


def test_html_and_sql_looking_input_is_echoed_escaped(server: LiveServer) -> None:
    evil = "<script>alert(1)</script>' OR '1'='1"
    with server.client() as http:
        page = http.get("/login")
        resp = http.post("/login", data={"username": evil, "password": "' OR 1=1 -- ",
                                         "csrf_token": _form_token(page.text)})
        assert resp.status_code == 401
        assert "<script>alert(1)" not in resp.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&#39; OR &#39;1&#39;=&#39;1" in resp.text
        api = http.post("/api/v1/auth/token", json={"username": evil, "password": "x"})
        assert api.status_code == 401 and "SELECT" not in api.text


def test_sign_in_is_rate_limited(site: Site) -> None:
    live = start_server(site.url, web_login_attempts="3", web_login_window_seconds="600")
    try:
        with live.client() as http:
            codes = [http.post("/api/v1/auth/token",
                               json={"username": "nurse", "password": "wrong"}).status_code
                     for _ in range(4)]
            after = http.post("/api/v1/auth/token",
                              json={"username": "nurse", "password": PASSWORD})
        assert codes == [401, 401, 401, 429]
        assert after.status_code == 429
        assert after.json()["status"] == 429
    finally:
        live.stop()
