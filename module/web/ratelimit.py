"""A small in-process sliding-window limiter for sign-in attempts.

One server process serves the site (uvicorn, one worker), so the window lives in memory;
OpenEMR's own per-user failure counter (``users_secure``) still applies across restarts.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, key: str, now: float | None = None) -> bool:
        """Record an attempt for ``key``; False when the key is over its limit."""
        current = time.monotonic() if now is None else now
        with self._lock:
            events = self._events[key]
            while events and current - events[0] >= self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(current)
            return True
