"""Repositories of the consumption engine: every SQL statement it sends lives here.

A :class:`~aesthetic_inventory.unit_of_work.UnitOfWork` builds them on its connection
(``uow.get(ConsumptionRepository)`` and so on).
"""

from .actuals import ActualsRepository
from .fee_sheet import FeeSheetRepository
from .queue import QueueRepository
from .reconcile import ConsumptionRepository
from .sweep import SweepRepository

__all__ = [
    "ActualsRepository", "ConsumptionRepository", "FeeSheetRepository", "QueueRepository",
    "SweepRepository",
]
