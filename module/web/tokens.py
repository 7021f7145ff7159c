"""Signed, expiring values: the session cookie, API bearer tokens, OpenEMR launch tokens.

Sessions and bearer tokens are ``itsdangerous`` timed signatures (HMAC-SHA1 over a
derived key, secret from the ``web_secret`` setting) with different salts, so one can
never be used as the other. The launch token is minted by the PHP menu module with
``hash_hmac('sha256', ...)`` and verified here with :func:`hmac.compare_digest`.
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

from ..errors import AestheticInventoryError


class InvalidTokenError(AestheticInventoryError):
    """A cookie or token is missing, forged, expired or malformed."""


@dataclass(frozen=True)
class Session:
    """What the signed session cookie carries."""

    username: str
    csrf: str
    issued_at: int


class Signer:
    """Signs and checks sessions and bearer tokens with one secret."""

    def __init__(self, secret: str, *, session_seconds: int, token_seconds: int) -> None:
        self._sessions = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-session")
        self._tokens = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-api-token")
        self._login = URLSafeTimedSerializer(secret, salt="aesthetic-inventory-login-csrf")
        self.session_seconds = session_seconds
        self.token_seconds = token_seconds

    def new_session(self, username: str) -> tuple[str, Session]:
        session = Session(username, secrets.token_urlsafe(24), int(time.time()))
        value = self._sessions.dumps({"u": username, "c": session.csrf})
        return value, session

    def read_session(self, value: str | None) -> Session:
        data = self._load(self._sessions, value, self.session_seconds)
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            raise InvalidTokenError("malformed session")
        return Session(data["u"], str(data.get("c", "")), 0)

    def new_token(self, username: str) -> str:
        return self._tokens.dumps({"u": username, "n": secrets.token_urlsafe(8)})

    def read_token(self, value: str | None) -> str:
        data = self._load(self._tokens, value, self.token_seconds)
        if not isinstance(data, dict) or not isinstance(data.get("u"), str):
            raise InvalidTokenError("malformed token")
        return data["u"]

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


def mint_launch_token(secret: str, username: str, now: int | None = None) -> str:
    """The launch token the PHP module mints (Python twin, for tests and tools).

    Format: ``base64url(json{"u","iat","exp"}) "." hex(hmac_sha256(secret, payload_b64))``.
    """
    issued = int(time.time()) if now is None else now
    payload = json.dumps({"u": username, "iat": issued, "exp": issued + 60},
                         separators=(",", ":")).encode()
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def verify_launch_token(secret: str, token: str | None, *, max_age: int, now: int | None = None
                        ) -> str:
    """The username in a valid, unexpired launch token; :class:`InvalidTokenError` otherwise."""
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
    except (ValueError, KeyError, TypeError):
        raise InvalidTokenError("malformed launch token") from None
    current = int(time.time()) if now is None else now
    if expires < current or current - issued > max_age or issued > current + 30:
        raise InvalidTokenError("expired launch token")
    return username
