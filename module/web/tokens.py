"""Signed, expiring values: the session cookie, API bearer tokens, OpenEMR launch tokens.

Sessions and bearer tokens are ``itsdangerous`` timed signatures (HMAC-SHA1 over a
derived key, secret from the ``web_secret`` setting) with different salts, so one can
never be used as the other. Each carries a random session secret whose SHA-256 names a
row of ``aesthetic_inventory_web_sessions``: the signature turns away forgeries without
a query, the row makes sign-out and revocation immediate (``web/sessions.py``).

The launch token is minted by the PHP menu module with ``hash_hmac('sha256', ...)`` and
verified here with :func:`hmac.compare_digest`; it carries a nonce, stored on first use,
so it signs a browser in once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..errors import InvalidTokenError

__all__ = ["InvalidTokenError", "LaunchToken", "Session", "Signer", "mint_launch_token",
           "secret_hash", "verify_launch_token"]

# How far a launch token's issue time may lie in the future (the PHP host's clock
# running ahead of ours): a few seconds, not the token's whole lifetime.
LAUNCH_CLOCK_SKEW_SECONDS = 5


@dataclass(frozen=True)
class Session:
    """What a signed session cookie or bearer token carries."""

    username: str
    csrf: str
    secret: str
    site: str = ""  # the OpenEMR site it was opened on (empty: made before multisite)

    @property
    def id_hash(self) -> str:
        """The name of its ``aesthetic_inventory_web_sessions`` row."""
        return secret_hash(self.secret)


def secret_hash(secret: str) -> str:
    """SHA-256 hex of a session secret (only the hash is stored)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class LaunchToken:
    """A verified launch token: who, its nonce, when it expires (Unix time), and the
    OpenEMR site (``$_SESSION['site_id']``) it was minted on, if it says."""

    username: str
    nonce: str
    expires: int
    site: str | None = None


class Signer:
    """Signs and checks sessions and bearer tokens with one secret."""

    def __init__(self, secret: str, *, session_seconds: int, token_seconds: int) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-session")
        self._tokens = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-api-token")
        self._login = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-login-csrf")
        self.session_seconds = session_seconds
        self.token_seconds = token_seconds

    def new_session(self, username: str, site: str = "") -> tuple[str, Session]:
        """A new cookie value and what it carries (bound to ``site``: the signature
        covers it, so a cookie of one site never names another)."""
        session = Session(username, secrets.token_urlsafe(24), secrets.token_urlsafe(32), site)
        value = self._sessions.dumps({"u": username, "c": session.csrf, "s": session.secret,
                                      "o": site})
        return value, session

    def read_session(self, value: str | None) -> Session:
        """The session a cookie carries (signature and age checked, not revocation)."""
        data = self._load(self._sessions, value, self.session_seconds)
        if (not isinstance(data, dict) or not isinstance(data.get("u"), str)
                or not isinstance(data.get("s"), str)):
            raise InvalidTokenError("malformed session")
        return Session(data["u"], str(data.get("c", "")), data["s"], _site(data))

    def new_token(self, username: str, site: str = "") -> tuple[str, Session]:
        """A new bearer token and what it carries (bound to ``site``)."""
        session = Session(username, "", secrets.token_urlsafe(32), site)
        return self._tokens.dumps({"u": username, "n": session.secret, "o": site}), session

    def read_token(self, value: str | None) -> Session:
        """The session a bearer token carries (signature and age checked)."""
        data = self._load(self._tokens, value, self.token_seconds)
        if (not isinstance(data, dict) or not isinstance(data.get("u"), str)
                or not isinstance(data.get("n"), str)):
            raise InvalidTokenError("malformed token")
        return Session(data["u"], "", data["n"], _site(data))

    def new_login_csrf(self) -> str:
        return self._login.dumps(secrets.token_urlsafe(16))

    def check_login_csrf(self, cookie: str | None, field: str | None) -> None:
        if not cookie or not field or not hmac.compare_digest(cookie, field):
            raise InvalidTokenError("missing or mismatched form token")
        self._load(self._login, cookie, 3600)

    @staticmethod
    def _load(serializer: URLSafeTimedSerializer, value: str | None, max_age: int) -> object:
        if not value:
            raise InvalidTokenError("missing")
        try:
            return serializer.loads(value, max_age=max_age)
        except SignatureExpired:
            raise InvalidTokenError("expired") from None
        except BadSignature:
            raise InvalidTokenError("bad signature") from None


def _site(data: dict) -> str:
    site = data.get("o", "")
    if not isinstance(site, str):
        raise InvalidTokenError("malformed session")
    return site


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_launch_token(secret: str, username: str, now: int | None = None,
                      nonce: str | None = None, site: str | None = None) -> str:
    """The launch token the PHP module mints (Python twin, for tests and tools).

    Format: ``base64url(json{"u","iat","exp","n"[,"site"]}) "." hex(hmac_sha256(secret,
    payload_b64))``; ``n`` is a random nonce (hex), stored when the token is used;
    ``site`` is OpenEMR's ``$_SESSION['site_id']`` (multisite; absent from tokens of
    modules installed before it).
    """
    issued = int(time.time()) if now is None else now
    fields: dict[str, object] = {"u": username, "iat": issued, "exp": issued + 60,
                                 "n": nonce or secrets.token_hex(16)}
    if site is not None:
        fields["site"] = site
    payload = json.dumps(fields, separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def verify_launch_token(secret: str, token: str | None, *, max_age: int, now: int | None = None
                        ) -> LaunchToken:
    """A valid, unexpired launch token's contents; :class:`InvalidTokenError` otherwise.

    Whether its nonce was used before is the caller's check (it needs the database)."""
    if not secret:
        raise InvalidTokenError("launch tokens are not configured")
    if not token or token.count(".") != 1:
        raise InvalidTokenError("malformed launch token")
    body, mac = token.split(".")
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac.lower()):
        raise InvalidTokenError("bad launch token signature")
    try:
        data = json.loads(_b64url_decode(body))
        username, issued, expires = str(data["u"]), int(data["iat"]), int(data["exp"])
        nonce = str(data["n"])
        site = data.get("site")
        if site is not None and not isinstance(site, str):
            raise TypeError("site")
    except (ValueError, KeyError, TypeError):
        raise InvalidTokenError("malformed launch token") from None
    if not 16 <= len(nonce) <= 64:
        raise InvalidTokenError("malformed launch token")
    current = int(time.time()) if now is None else now
    if expires < current or current - issued > max_age:
        raise InvalidTokenError("expired launch token")
    if issued > current + LAUNCH_CLOCK_SKEW_SECONDS:
        raise InvalidTokenError("launch token issued in the future (check the clocks)")
    return LaunchToken(username, nonce, min(expires, issued + max_age), site)
