"""Issue 17 E: web sessions against a real server and the real schema.

Single-use launch tokens behind a confirmation page, sign-out and an administrator's
revocation end a session server-side, the per-address sign-in limit believes
X-Forwarded-For only from a configured proxy, HSTS / X-Frame-Options, a body limit
before authentication, the OpenAPI document behind sign-in.
"""

from __future__ import annotations

import time

import httpx
import pytest
from aesthetic_inventory.cli import main
from aesthetic_inventory.web.tokens import mint_launch_token
from click.testing import CliRunner
from conftest import PASSWORD, Site, bearer, confirm_launch, login_cookie
from webserver import LAUNCH_SECRET, LiveServer, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.filterwarnings("ignore:Setting per-request cookies")]


def _confirm(http: httpx.Client, token: str) -> httpx.Response:
    assert http.get("/launch", params={"token": token}).status_code == 200
    return confirm_launch(http, token)


def test_a_plain_get_of_a_launch_link_signs_no_one_in(server: LiveServer) -> None:
    token = mint_launch_token(LAUNCH_SECRET, "nurse")
    with server.client() as http:
        page = http.get("/launch", params={"token": token},
                        headers={"Sec-Fetch-Site": "cross-site"})
    assert page.status_code == 200
    assert "ai_session" not in page.cookies
    assert "Continue as nurse" in page.text
    # a POST without the page's form token (a cross-site form) is refused too
    with server.client() as http:
        forged = http.post("/launch", data={"token": token})
    assert forged.status_code == 403 and "ai_session" not in forged.cookies


def test_a_launch_token_signs_in_once(server: LiveServer) -> None:
    token = mint_launch_token(LAUNCH_SECRET, "nurse")
    with server.client() as http:
        first = _confirm(http, token)
        assert first.status_code == 303 and "ai_session" in first.cookies
        again = _confirm(http, token)
    assert again.status_code == 303 and again.headers["location"].endswith("/login")
    assert "ai_session" not in again.cookies


def test_a_launch_token_from_the_future_is_refused(server: LiveServer) -> None:
    ahead = mint_launch_token(LAUNCH_SECRET, "nurse", now=int(time.time()) + 20)
    with server.client() as http:
        resp = http.get("/launch", params={"token": ahead})
    assert resp.status_code == 303 and resp.headers["location"].endswith("/login")


def test_sign_out_ends_every_copy_of_the_cookie(server: LiveServer) -> None:
    cookie, csrf = login_cookie(server, "nurse")
    stolen = {"ai_session": cookie}
    with server.client() as http:
        assert http.get("/api/v1/me", cookies=stolen).status_code == 200
        out = http.post("/logout", cookies=stolen, data={"csrf_token": csrf})
        assert out.status_code == 303
        assert http.get("/api/v1/me", cookies=stolen).status_code == 401
        assert http.get("/", cookies=stolen).headers["location"].endswith("/login")


def test_an_admin_revokes_a_users_sessions_and_tokens(site: Site, server: LiveServer) -> None:
    site.clinic.add_openemr_user("lostphone", ["clin"], password=PASSWORD)
    cookie, _ = login_cookie(server, "lostphone")
    token = bearer(server, "lostphone")
    other = bearer(server, "doctor")
    result = CliRunner().invoke(main, ["--database-url", site.url, "revoke-sessions",
                                       "--user", "lostphone"])
    assert result.exit_code == 0, result.output
    assert "revoked 2 sessions of lostphone" in result.output
    with server.client() as http:
        assert http.get("/api/v1/me", cookies={"ai_session": cookie}).status_code == 401
        assert http.get("/api/v1/me", headers=token).status_code == 401
        assert http.get("/api/v1/me", headers=other).status_code == 200


def _bad_sign_ins(live: LiveServer, addresses: list[str]) -> list[int]:
    with live.client() as http:
        return [http.post("/api/v1/auth/token", headers={"X-Forwarded-For": address},
                          json={"username": f"nobody{n}", "password": "x"}).status_code
                for n, address in enumerate(addresses)]


def test_forwarded_for_from_localhost_is_not_believed_by_default(site: Site) -> None:
    addresses = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    live = start_server(site.url, web_login_attempts="2")
    try:
        assert _bad_sign_ins(live, addresses) == [401, 401, 429]
    finally:
        live.stop()
    proxied = start_server(site.url, web_login_attempts="2", web_trusted_proxies="127.0.0.1")
    try:
        assert _bad_sign_ins(proxied, addresses) == [401, 401, 401]
        with proxied.client() as http:
            tls = http.get("/healthz", headers={"X-Forwarded-Proto": "https"})
            plain = http.get("/healthz")
        assert tls.headers["strict-transport-security"].startswith("max-age=")
        assert "strict-transport-security" not in plain.headers
    finally:
        proxied.stop()


def test_pages_refuse_framing_and_plain_http_gets_no_hsts(server: LiveServer) -> None:
    with server.client() as http:
        page = http.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert page.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    # the forwarded scheme of an untrusted peer is ignored
    assert "strict-transport-security" not in page.headers


def test_a_large_body_is_refused_before_authentication(site: Site, server: LiveServer) -> None:
    big = b'{"materials": [' + b" " * (2 * 1024 * 1024) + b"]}"
    path = f"/api/v1/visits/{site.pid}/{site.encounter}/materials"
    with server.client() as http:
        declared = http.put(path, content=big, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and declared.json()["status"] == 413

        def chunks():  # no Content-Length: counted while read
            for _ in range(64):
                yield b" " * 65536

        streamed = http.put(path, content=chunks(), headers={
            "Content-Type": "application/json", **bearer(server, "nurse")})
        assert streamed.status_code == 413
        small = http.put(path, json={"materials": []})
        assert small.status_code == 401


def test_the_openapi_document_needs_a_signed_in_user(site: Site, server: LiveServer) -> None:
    with server.client() as http:
        assert http.get("/api/v1/openapi.json").status_code == 401
        assert http.get("/api/v1/openapi.json", headers=bearer(server, "front")).status_code == 200
    public = start_server(site.url, web_public_openapi="1")
    try:
        with public.client() as http:
            assert http.get("/api/v1/openapi.json").json()["info"]["version"] == "1"
    finally:
        public.stop()
