"""Repositories of the alerts concern: every SQL statement it sends lives here.

A :class:`~aesthetic_inventory.unit_of_work.UnitOfWork` builds them on its connection
(``uow.alerts``, ``uow.outbox``, ``uow.targets``); the ``background_services`` claim
protocol is :mod:`aesthetic_inventory.alerts.repositories.background`; the incremental
scan's change rows and watermark :mod:`aesthetic_inventory.alerts.repositories.changes`.
"""

from .outbox import OUTBOX_TABLE, OutboxRepository, OutboxRow
from .state import SCAN_LOCK, STATE_TABLE, USAGE_TABLE, AlertStateRepository
from .targets import TargetsRepository

__all__ = [
    "OUTBOX_TABLE",
    "SCAN_LOCK",
    "STATE_TABLE",
    "USAGE_TABLE",
    "AlertStateRepository",
    "OutboxRepository",
    "OutboxRow",
    "TargetsRepository",
]
