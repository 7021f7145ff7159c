"""The web face's settings, read from the composition root's :class:`Settings`."""

from __future__ import annotations

import ipaddress
import logging
import secrets
from dataclasses import dataclass

from ..errors import ConfigurationError
from ..settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebConfig:
    """Resolved web settings (keys are ``AESTHETIC_INVENTORY_<KEY>`` / TOML keys)."""

    secret: str
    launch_secret: str
    session_seconds: int
    token_seconds: int
    launch_max_age: int
    cookie_secure: bool
    login_attempts: int
    login_window_seconds: int
    frame_ancestors: str
    root_path: str
    threads: int
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    max_body_bytes: int = 256 * 1024
    public_openapi: bool = False
    hsts_seconds: int = 365 * 86400
    grants_cache_seconds: int = 30

    def is_trusted_proxy(self, address: str | None) -> bool:
        """Whether a request from ``address`` may tell us the client's address."""
        if not address or not self.trusted_proxies:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.trusted_proxies)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebConfig:
        secret = settings.get("web_secret")
        if not secret:
            # Without a configured secret sessions do not survive a restart; say so once.
            log.warning("web_secret is not set: using a random one, sign-ins end on restart")
            secret = secrets.token_urlsafe(32)
        return cls(
            secret=secret,
            launch_secret=settings.get("openemr_launch_secret", "") or "",
            session_seconds=settings.get_int("web_session_seconds", 8 * 3600, minimum=60),
            token_seconds=settings.get_int("web_token_seconds", 3600, minimum=60),
            launch_max_age=settings.get_int("web_launch_max_age", 60, minimum=5),
            cookie_secure=settings.get_bool("web_cookie_secure", False),
            login_attempts=settings.get_int("web_login_attempts", 10, minimum=1),
            login_window_seconds=settings.get_int("web_login_window_seconds", 300, minimum=1),
            frame_ancestors=settings.get("web_frame_ancestors", "'self'") or "'self'",
            root_path=(settings.get("web_root_path", "") or "").rstrip("/"),
            # Requests run on worker threads, each holding one pooled connection at a
            # time; more threads than the engine's pool (5) only adds connection churn.
            threads=settings.get_int("web_threads", 5, minimum=1),
            trusted_proxies=_networks(settings),
            # The largest legitimate body (100 materials with notes) is about 130 KB.
            max_body_bytes=settings.get_int("web_max_body_bytes", 256 * 1024),
            public_openapi=settings.get_bool("web_public_openapi", False),
            hsts_seconds=settings.get_int("web_hsts_seconds", 365 * 86400),
            grants_cache_seconds=settings.get_int("web_grants_cache_seconds", 30),
        )


def _networks(settings: Settings) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """``web_trusted_proxies``: comma list of addresses or networks (CIDR)."""
    raw = settings.get("web_trusted_proxies", "") or ""
    networks = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"setting {settings.describe('web_trusted_proxies')}: {item!r} is not an "
                "IP address or network (e.g. 127.0.0.1 or 10.0.0.0/8)") from None
    return tuple(networks)
