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

    @property
    def id_hash(self) -> str:
        """The name of its ``aesthetic_inventory_web_sessions`` row."""
        return secret_hash(self.secret)


def secret_hash(secret: str) -> str:
    """SHA-256 hex of a session secret (only the hash is stored)."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class LaunchToken:
    """A verified launch token: who, its nonce, and when it expires (Unix time)."""

    username: str
    nonce: str
    expires: int


class Signer:
    """Signs and checks sessions and bearer tokens with one secret."""

    def __init__(self, secret: str, *, session_seconds: int, token_seconds: int) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-session")
        self._tokens = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-api-token")
        self._login = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-login-csrf")
        self.session_seconds = session_seconds
        self.token_seconds = token_seconds

    def new_session(self, username: str) -> tuple[str, Session]:
        """A new cookie value and what it carries."""
        session = Session(username, secrets.token_urlsafe(24), secrets.token_urlsafe(32))
        value = self._sessions.dumps({"u": username, "c": session.csrf, "s": session.secret})
        return value, session

    def read_session(self, value: str | None) -> Session:
        """The session a cookie carries (signature and age checked, not revocation)."""
        data = self._load(self._sessions, value, self.session_seconds)
        if (not isinstance(data, dict) or not isinstance(data.get("u"), str)
                or not isinstance(data.get("s"), str)):
            raise InvalidTokenError("malformed session")
        return Session(data["u"], str(data.get("c", "")), data["s"])

    def new_token(self, username: str) -> tuple[str, Session]:
        """A new bearer token and what it carries."""
        session = Session(username, "", secrets.token_urlsafe(32))
        return self._tokens.dumps({"u": username, "n": session.secret}), session

    def read_token(self, value: str | None) -> Session:
        """The session a bearer token carries (signature and age checked)."""
        data = self._load(self._tokens, value, self.token_seconds)
        if (not isinstance(data, dict) or not isinstance(data.get("u"), str)
                or not isinstance(data.get("n"), str)):
            raise InvalidTokenError("malformed token")
        return Session(data["u"], "", data["n"])

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


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_launch_token(secret: str, username: str, now: int | None = None,
                      nonce: str | None = None) -> str:
    """The launch token the PHP module mints (Python twin, for tests and tools).

    Format: ``base64url(json{"u","iat","exp","n"}) "." hex(hmac_sha256(secret,
    payload_b64))``; ``n`` is a random nonce (hex), stored when the token is used.
    """
    issued = int(time.time()) if now is None else now
    payload = json.dumps({"u": username, "iat": issued, "exp": issued + 60,
                          "n": nonce or secrets.token_hex(16)},
                         separators=(",", ":")).encode()
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
    except (ValueError, KeyError, TypeError):
        raise InvalidTokenError("malformed launch token") from None
    if not 16 <= len(nonce) <= 64:
        raise InvalidTokenError("malformed launch token")
    current = int(time.time()) if now is None else now
    if expires < current or current - issued > max_age:
        raise InvalidTokenError("expired launch token")
    if issued > current + LAUNCH_CLOCK_SKEW_SECONDS:
        raise InvalidTokenError("launch token issued in the future (check the clocks)")
    return LaunchToken(username, nonce, min(expires, issued + max_age))
