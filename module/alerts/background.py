"""OpenEMR's ``background_services`` claim protocol for the alert job: who holds a claim
(:func:`process_owner`). The protocol's SQL is
:class:`~aesthetic_inventory.alerts.repositories.background.BackgroundServiceRepository`
(re-exported here for the packages that name it from this module)."""

from __future__ import annotations

import os
import socket

from .repositories.background import (
    CLAIMS_TABLE,
    SERVICE_NAME,
    BackgroundServiceRepository,
    ServiceRow,
)

__all__ = [
    "CLAIMS_TABLE",
    "SERVICE_NAME",
    "BackgroundServiceRepository",
    "ServiceRow",
    "process_owner",
]


def process_owner() -> str:
    """Who holds a claim or a lock: ``host:pid`` (recorded in the claims, locks
    and outbox tables)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:255]
