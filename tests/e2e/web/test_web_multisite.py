"""Issue 20 item 5: the web face serves several OpenEMR sites (one database each, real
OpenEMR schema). The site is chosen at sign-in (``?site=`` as OpenEMR's login, a form
field, the API token's ``site``, or the launch token minted by the PHP menu module from
``$_SESSION['site_id']``) and the session is bound to it: its users, its ACL, its data;
a session of one site never reads another; sign-out and revocation are per site; one
site's hanging database never stalls another's requests."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import dbtools
import httpx
import pytest
import uvicorn
from aesthetic_inventory.bootstrap import App, build_app
from aesthetic_inventory.db import create_db_engine
from aesthetic_inventory.install.service import migrate
from aesthetic_inventory.web.app import create_web_app
from aesthetic_inventory.web.openemr_module import MODULE_NAME, install_module
from aesthetic_inventory.web.server import uvicorn_config
from aesthetic_inventory.web.tokens import Signer, mint_launch_token
from clinic import Clinic
from conftest import PASSWORD, Site, confirm_launch
from itsdangerous import URLSafeTimedSerializer
from playwright.sync_api import Browser
from webserver import LAUNCH_SECRET, WEB_SECRET, LiveServer, free_port, serve_process

pytestmark = pytest.mark.e2e

PASSWORD_B = "Other-pass-2"
SEED_KEYS = {"timestamp", "status", "error", "message", "path"}
CLI = str(Path(sys.executable).with_name("aesthetic-inventory"))


@pytest.fixture(scope="module")
def site2(mysql_server: dbtools.ServerInfo) -> Iterator[Site]:
    """A second OpenEMR site: its own database, users (other passwords, other groups)
    and visits."""
    name = mysql_server.create_database("aioe2")
    mysql_server.load_openemr_schema(name)
    url = mysql_server.database_url(name)
    eng = create_db_engine(url)
    try:
        migrate(eng)
        clinic = Clinic(eng)
        clinic.install_default_acl()
        clinic.add_openemr_user("nurse", ["clin"], password=PASSWORD_B, fname="Bea")
        clinic.add_openemr_user("kate", ["clin"], password=PASSWORD_B, fname="Kate")
        clinic.add_openemr_user("onlyb", ["clin"], password=PASSWORD_B, fname="Only")
        drug = clinic.add_drug("Filler B")
        lot = clinic.add_lot(drug, 7, expiration=date.today() + timedelta(days=90),
                             lot_number="B-1")
        mapping = clinic.add_mapping("11950", drug, "1")
        clinic.execute("INSERT INTO patient_data (pid, fname, lname) VALUES (1, 'Bruno', 'Reis')")
        clinic.add_visit(1, 2002, date.today())
        clinic.add_line(1, 2002, "11950")
        yield Site(url, eng, clinic, drug, [lot], mapping, 1, 2002)
    finally:
        eng.dispose()
        mysql_server.drop_database(name)


class SitesServer:
    """A live server over several sites (the roots are closed with it)."""

    def __init__(self, urls: dict[str, str], **settings: str) -> None:
        environ = {"AESTHETIC_INVENTORY_WEB_SECRET": WEB_SECRET,
                   "AESTHETIC_INVENTORY_OPENEMR_LAUNCH_SECRET": LAUNCH_SECRET,
                   "AESTHETIC_INVENTORY_WEB_LOGIN_ATTEMPTS": "100000"}
        environ |= {"AESTHETIC_INVENTORY_" + k.upper(): v for k, v in settings.items()}
        self.app = build_app(environ=environ)
        self.roots: list[tuple[str, App]] = [(n, self.app.for_site(u)) for n, u in urls.items()]
        port = free_port()
        config = uvicorn_config(create_web_app(self.app, sites=self.roots), host="127.0.0.1",
                                port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "did not start"
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"
        self.live = LiveServer(self.url, self.app, self.server, self.thread)

    def client(self) -> httpx.Client:
        return self.live.client()

    def stop(self) -> None:
        self.live.stop()
        for _name, root in self.roots:
            root.close()


@pytest.fixture(scope="module")
def sites(site: Site, site2: Site) -> Iterator[SitesServer]:
    live = SitesServer({"default": site.url, "site2": site2.url})
    try:
        yield live
    finally:
        live.stop()


def _form_token(page: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def sign_in(server: SitesServer, username: str, password: str, site: str | None
            ) -> httpx.Response:
    """The sign-in form as a browser posts it (``site`` in the URL and the form)."""
    with server.client() as http:
        page = http.get("/login", params={"site": site} if site else None)
        assert page.status_code == 200, page.text
        return http.post("/login", data={"username": username, "password": password,
                                         "csrf_token": _form_token(page), "site": site or ""})


def cookie_of(server: SitesServer, username: str, password: str, site: str) -> str:
    resp = sign_in(server, username, password, site)
    assert resp.status_code == 303, resp.text
    return str(resp.cookies["ai_session"])


def token_of(server: SitesServer, username: str, password: str, site: str) -> dict[str, str]:
    with server.client() as http:
        resp = http.post("/api/v1/auth/token",
                         json={"username": username, "password": password, "site": site})
    assert resp.status_code == 200, resp.text
    return {"Authorization": "Bearer " + resp.json()["accessToken"]}


def encounters(http: httpx.Client, **kwargs: object) -> list[int]:
    resp = http.get("/api/v1/visits", **kwargs)  # type: ignore[arg-type]
    assert resp.status_code == 200, resp.text
    return [v["encounter"] for v in resp.json()["visits"]]


def test_the_site_chosen_at_sign_in_is_the_sessions_database(sites: SitesServer) -> None:
    with sites.client() as http:
        form = http.get("/login")
        assert re.search(r'id="site"[^>]*value="default"', form.text)
        assert re.search(r'id="site"[^>]*value="site2"', http.get("/login?site=site2").text)
        cookie_b = cookie_of(sites, "nurse", PASSWORD_B, "site2")
        me = http.get("/api/v1/me", cookies={"ai_session": cookie_b}).json()
        assert (me["username"], me["site"]) == ("nurse", "site2")
        assert encounters(http, cookies={"ai_session": cookie_b}) == [2002]
        review = http.get("/", cookies={"ai_session": cookie_b})
        assert "Bruno Reis" in review.text and "Ana Silva" not in review.text
        cookie_a = cookie_of(sites, "nurse", PASSWORD, "default")
        assert encounters(http, cookies={"ai_session": cookie_a}) == [1001]
        assert http.get("/api/v1/me", cookies={"ai_session": cookie_a}).json()["site"] == "default"
    # each site's own users and passwords
    assert sign_in(sites, "nurse", PASSWORD, "site2").status_code == 401
    assert sign_in(sites, "onlyb", PASSWORD_B, "default").status_code == 401
    # the API token names its site the same way
    with sites.client() as http:
        assert encounters(http, headers=token_of(sites, "onlyb", PASSWORD_B, "site2")) == [2002]
        assert encounters(http, headers=token_of(sites, "nurse", PASSWORD, "default")) == [1001]


def test_acl_is_the_chosen_sites(site: Site, sites: SitesServer) -> None:
    # kate is a front-desk user at the default site and a nurse at site2
    site.clinic.add_openemr_user("kate", ["front"], password=PASSWORD_B, fname="Kate")
    with sites.client() as http:
        at_a = http.get("/api/v1/me", headers=token_of(sites, "kate", PASSWORD_B, "default"))
        at_b = http.get("/api/v1/me", headers=token_of(sites, "kate", PASSWORD_B, "site2"))
    assert at_a.json()["permissions"]["updateMaterials"] is False
    assert at_b.json()["permissions"]["updateMaterials"] is True


def test_a_session_of_one_site_cannot_read_another(sites: SitesServer) -> None:
    cookie_a = cookie_of(sites, "nurse", PASSWORD, "default")
    with sites.client() as http:
        asked = http.get("/api/v1/visits?site=site2", cookies={"ai_session": cookie_a})
        assert asked.status_code == 401 and set(asked.json()) == SEED_KEYS
        assert asked.json()["path"] == "/api/v1/visits"  # and nothing of site2
        page = http.get("/?site=site2", cookies={"ai_session": cookie_a})
        assert page.status_code == 303 and page.headers["location"] == "/login?site=site2"
        # the same session secret signed for site2 (as if the cookie named it): site2's
        # database has no such session, so it is refused
        session = Signer(WEB_SECRET, session_seconds=3600, token_seconds=3600
                         ).read_session(cookie_a)
        forged = URLSafeTimedSerializer(WEB_SECRET, salt="aesthetic-inventory-session").dumps(
            {"u": session.username, "c": session.csrf, "s": session.secret, "o": "site2"})
        refused = http.get("/api/v1/visits", cookies={"ai_session": forged})
        assert refused.status_code == 401 and set(refused.json()) == SEED_KEYS
        token_b = token_of(sites, "nurse", PASSWORD_B, "site2")
        assert http.get("/api/v1/visits?site=default", headers=token_b).status_code == 401
        assert encounters(http, headers=token_b) == [2002]


def test_an_unknown_site_is_a_4xx_in_the_seeds_shape(sites: SitesServer) -> None:
    with sites.client() as http:
        api = http.post("/api/v1/auth/token",
                        json={"username": "nurse", "password": PASSWORD, "site": "nowhere"})
        assert api.status_code == 404 and set(api.json()) == SEED_KEYS
        assert api.json()["message"] == "no such site: nowhere"
        page = http.get("/login?site=nowhere")
        assert page.status_code == 404 and "no such site: nowhere" in page.text
        posted = sign_in(sites, "nurse", PASSWORD, None)  # no site: OpenEMR's default
        assert posted.status_code == 303
        form = http.get("/login")
        bad = http.post("/login", data={"username": "nurse", "password": PASSWORD,
                                        "site": "nowhere", "csrf_token": _form_token(form)},
                        cookies={"ai_login_csrf": form.cookies["ai_login_csrf"]})
        assert bad.status_code == 404 and "no such site: nowhere" in bad.text
        assert "ai_session" not in bad.cookies
        launch = http.get("/launch", params={"token": mint_launch_token(
            LAUNCH_SECRET, "nurse", site="nowhere")})
        assert launch.status_code == 404 and "no such site: nowhere" in launch.text


def test_sign_out_and_revocation_are_per_site(site2: Site, sites: SitesServer) -> None:
    cookie_a = cookie_of(sites, "nurse", PASSWORD, "default")
    cookie_b = cookie_of(sites, "nurse", PASSWORD_B, "site2")
    with sites.client() as http:
        home = http.get("/", cookies={"ai_session": cookie_a})
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', home.text).group(1)
        out = http.post("/logout", data={"csrf_token": csrf}, cookies={"ai_session": cookie_a})
        assert out.status_code == 303 and out.headers["location"] == "/login?site=default"
        assert http.get("/api/v1/me", cookies={"ai_session": cookie_a}).status_code == 401
        assert http.get("/api/v1/me", cookies={"ai_session": cookie_b}).status_code == 200
        cookie_a = cookie_of(sites, "nurse", PASSWORD, "default")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
        done = subprocess.run([CLI, "revoke-sessions", "--user", "nurse", "--site",
                               f"site2={site2.url}"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert re.search(r"revoked [1-9]\d* sessions? of nurse", done.stdout)
        assert http.get("/api/v1/me", cookies={"ai_session": cookie_b}).status_code == 401
        assert http.get("/api/v1/me", cookies={"ai_session": cookie_a}).status_code == 200


@pytest.fixture
def php_openemr(tmp_path: Path) -> Iterator[str]:
    """An OpenEMR tree with our module, served by php-cli's web server; its globals.php
    stands in for OpenEMR's (the signed-in user and OpenEMR's ``site_id``)."""
    (tmp_path / "interface" / "modules" / "custom_modules").mkdir(parents=True)
    (tmp_path / "interface" / "globals.php").write_text(
        "<?php\n$_SESSION = ['authUser' => $_GET['user'] ?? '', "
        "'site_id' => $_GET['site'] ?? 'default'];\n", encoding="utf-8")
    yield str(tmp_path)


def test_the_php_menu_launch_carries_openemrs_site_id(php_openemr: str, sites: SitesServer
                                                       ) -> None:
    install_module(Path(php_openemr), url=sites.url, force=False, secret=LAUNCH_SECRET)
    port = free_port()
    php = subprocess.Popen(["php", "-S", f"127.0.0.1:{port}", "-t", php_openemr],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    launch = (f"http://127.0.0.1:{port}/interface/modules/custom_modules/{MODULE_NAME}"
              "/public/launch.php")
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "php -S did not start"
                time.sleep(0.1)
        located = {}
        for site_id in ("site2", "default", "nowhere"):
            resp = httpx.get(launch, params={"user": "nurse", "site": site_id})
            assert resp.status_code == 302, resp.text
            located[site_id] = resp.headers["location"]
    finally:
        php.send_signal(signal.SIGTERM)
        php.wait(timeout=10)
    with sites.client() as http:
        for site_id, expected in (("site2", [2002]), ("default", [1001])):
            token = httpx.URL(located[site_id]).params["token"]
            assert located[site_id].startswith(sites.url + "/launch?token=")
            page = http.get("/launch", params={"token": token})
            assert f'id="site">{site_id}<' in page.text
            done = confirm_launch(http, token)
            assert done.status_code == 303, done.text
            cookie = {"ai_session": done.cookies["ai_session"]}
            assert http.get("/api/v1/me", cookies=cookie).json()["site"] == site_id
            assert encounters(http, cookies=cookie) == expected
        unknown = http.get("/launch", params={"token": httpx.URL(located["nowhere"]).params[
            "token"]})
        assert unknown.status_code == 404 and "no such site: nowhere" in unknown.text


def test_php_and_python_launch_tokens_agree_on_the_site() -> None:
    source = (Path(__file__).resolve().parents[3] / "templates" / "openemr_module"
              / MODULE_NAME / "src" / "LaunchToken.php")
    nonce = "0123456789abcdef0123456789abcdef"
    code = (f"require '{source}';"
            "echo aesthetic_inventory_mint_token($argv[1], 'nurse', 1000000, 60, $argv[2],"
            " $argv[3]);")
    for site_id, python_site in (("site2", "site2"), ("", None)):
        php = subprocess.run(["php", "-r", code, LAUNCH_SECRET, nonce, site_id], check=True,
                             capture_output=True, text=True).stdout
        assert php == mint_launch_token(LAUNCH_SECRET, "nurse", now=1_000_000, nonce=nonce,
                                        site=python_site)


class Blackhole:
    """A TCP server that accepts connections and never answers (a database host that
    hangs: PyMySQL waits for the greeting without a timeout) until :meth:`release`,
    which drops them and refuses new ones (the host is gone)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)  # the accept loop sees release() soon
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.released.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted.append(conn)
        self.sock.close()  # from now on connecting is refused

    def release(self) -> None:
        self.released.set()
        self.thread.join(timeout=10)
        for conn in self.accepted:
            conn.close()


def test_a_hanging_site_database_never_stalls_another_site(site: Site) -> None:
    hole = Blackhole()
    dead_url = f"mysql+pymysql://root@127.0.0.1:{hole.port}/gone"
    live = SitesServer({"default": site.url, "dead": dead_url}, web_threads="2")
    try:
        signer = Signer(WEB_SECRET, session_seconds=3600, token_seconds=3600)
        # sessions of the dead site (signed as the server signs them): each request
        # checks its session in the dead site's database and hangs there
        cookies = [signer.new_session("nurse", "dead")[0] for _ in range(4)]
        headers = token_of(live, "nurse", PASSWORD, "default")
        with ThreadPoolExecutor(len(cookies)) as pool:
            hanging = [pool.submit(httpx.get, live.url + "/api/v1/visits",
                                   cookies={"ai_session": c}, timeout=120) for c in cookies]
            deadline = time.monotonic() + 30
            while len(hole.accepted) < 2:  # the dead site's share of the threads is busy
                assert time.monotonic() < deadline, "nothing reached the dead site"
                time.sleep(0.05)
            with live.client() as http:
                for _ in range(5):
                    assert encounters(http, headers=headers) == [1001]
                assert sign_in(live, "nurse", PASSWORD, "default").status_code == 303
            # answered while every request of the dead site was still waiting (two in
            # its database, two for its share of the threads)
            assert [f.done() for f in hanging] == [False] * len(hanging)
            assert len(hole.accepted) == 2
            hole.release()
            answers = [f.result() for f in hanging]
        assert {a.status_code for a in answers} == {503}
        assert all(set(a.json()) == SEED_KEYS for a in answers)
    finally:
        hole.release()
        live.stop()


def test_serve_takes_the_site_options(site: Site, site2: Site, tmp_path: Path) -> None:
    """--site NAME=URL and --site NAME of the [sites] table, in two worker processes
    (each builds the same sites)."""
    port = free_port()
    config = tmp_path / "settings.toml"
    config.write_text(f'[sites]\nsite2 = "{site2.url}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AESTHETIC_INVENTORY_")}
    env |= {"AESTHETIC_INVENTORY_WEB_SECRET": WEB_SECRET}
    args = ["--config", str(config), "serve", "--port", str(port), "--workers", "2",
            "--site", f"default={site.url}", "--site", "site2"]
    with serve_process(args, env, port) as served, httpx.Client(base_url=served.base) as http:
        for name, password, expected in (("site2", PASSWORD_B, [2002]),
                                         ("default", PASSWORD, [1001])):
            resp = http.post("/api/v1/auth/token", json={
                "username": "nurse", "password": password, "site": name})
            assert resp.status_code == 200, resp.text
            bearer = {"Authorization": "Bearer " + resp.json()["accessToken"]}
            assert encounters(http, headers=bearer) == expected
    assert served.proc.returncode == 0, served.err
    assert "sites default, site2" in served.out and "Traceback" not in served.err


def test_chromium_signs_in_to_site_2(browser: Browser, sites: SitesServer) -> None:
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    try:
        page.goto(sites.url + "/login?site=site2")
        assert page.input_value("#site") == "site2"
        page.fill("#username", "onlyb")
        page.fill("#password", PASSWORD_B)
        page.click("#sign-in")
        page.wait_for_url(sites.url + "/")
        heading = page.locator("section.visit h2")
        assert heading.all_inner_texts() == ["Bruno Reis"]
        assert page.inner_text(".who .site") == "site2"
        me = page.request.get(sites.url + "/api/v1/me").json()
        assert (me["username"], me["site"]) == ("onlyb", "site2")
        # the same browser asking for the other site is sent to its sign-in
        page.goto(sites.url + "/?site=default")
        assert page.url == sites.url + "/login?site=default"
        assert page.input_value("#site") == "default"
    finally:
        page.close()
