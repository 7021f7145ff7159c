"""The seam to the planned-vs-actual usage service (issue 12, ``aesthetic_inventory.usage``).

The materials endpoints (seed 003 8.7 / 8.8) are thin: they hand the visit, the user and
the validated request to the usage service, which owns the domain rules, the SQL and the
locking. This module adapts its results to the API's JSON; it holds no SQL of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Protocol

from ..unit_of_work import UnitOfWork
from .services import NotFoundError


class UsageServiceMissingError(NotFoundError):
    """The usage package is not installed in this build (materials endpoints unavailable)."""


class MaterialsGateway(Protocol):
    def show(self, pid: int, encounter: int, *, username: str, show_costs: bool) -> dict: ...

    def record(self, pid: int, encounter: int, *, username: str,
               materials: list[dict[str, Any]]) -> dict: ...


def _usage_module() -> Any:
    try:
        from .. import usage  # type: ignore[attr-defined]
    except ImportError:
        raise UsageServiceMissingError(
            "materials are not available: the usage service is not part of this build"
        ) from None
    return usage


class UsageMaterials:
    """:class:`MaterialsGateway` over ``aesthetic_inventory.usage``."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self.uow_factory = uow_factory

    def show(self, pid: int, encounter: int, *, username: str, show_costs: bool) -> dict:
        usage = _usage_module()
        return usage.api_show(self.uow_factory, pid, encounter, username=username,
                              show_costs=show_costs)

    def record(self, pid: int, encounter: int, *, username: str,
               materials: list[dict[str, Any]]) -> dict:
        usage = _usage_module()
        return usage.api_record(self.uow_factory, pid, encounter, username=username,
                                materials=materials)


def as_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))
