"""Multisite web rules without a database: which site a sign-in names, and that the
signed session, token and launch token carry their site."""

from __future__ import annotations

import pytest
from aesthetic_inventory.bootstrap import build_app
from aesthetic_inventory.errors import InvalidInputError, InvalidTokenError
from aesthetic_inventory.web.context import UnknownSiteError, WebEngines, WebSite, WebSites
from aesthetic_inventory.web.tokens import Signer, mint_launch_token, verify_launch_token
from sqlalchemy.engine import Engine

SECRET = "unit-secret-0123456789abcdef"


def _sites(*names: str) -> WebSites:
    app = build_app(environ={})

    def unused() -> tuple[Engine, Engine, bool]:
        raise AssertionError("no engine is built to choose a site")

    return WebSites([WebSite(name, app, WebEngines(unused)) for name in names])


def test_no_site_named_is_the_only_one_else_openemrs_default() -> None:
    assert _sites("north").get(None).name == "north"
    assert _sites("north").get("").name == "north"
    assert _sites("north", "default").get("  ").name == "default"
    with pytest.raises(InvalidInputError, match="choose the OpenEMR site"):
        _sites("north", "south").get(None)


def test_an_unknown_site_is_not_found_in_one_line() -> None:
    sites = _sites("default", "site2")
    assert sites.get("site2").name == "site2" and sites.several
    with pytest.raises(UnknownSiteError) as caught:
        sites.get("nowhere")
    assert caught.value.http_status == 404 and str(caught.value) == "no such site: nowhere"
    with pytest.raises(UnknownSiteError):
        _sites("default").get("site2")  # one site: a named other one is still unknown


def test_sessions_and_tokens_carry_their_site_under_the_signature() -> None:
    signer = Signer(SECRET, session_seconds=60, token_seconds=60)
    cookie, session = signer.new_session("nurse", "site2")
    assert signer.read_session(cookie).site == session.site == "site2"
    token, _ = signer.new_token("nurse", "north")
    assert signer.read_token(token).site == "north"
    other = Signer(SECRET + "x", session_seconds=60, token_seconds=60)
    with pytest.raises(InvalidTokenError):
        other.read_session(cookie)


def test_launch_tokens_name_openemrs_site_id_when_given() -> None:
    named = verify_launch_token(SECRET, mint_launch_token(SECRET, "nurse", site="site2"),
                                max_age=60)
    assert (named.username, named.site) == ("nurse", "site2")
    assert verify_launch_token(SECRET, mint_launch_token(SECRET, "nurse"), max_age=60).site is None
