"""The engine's rules as the settings give them (read by the CLI, the jobs and the
scheduler): the lot policy and the open containers' grace period."""

from __future__ import annotations

from ..settings import Settings
from .containers.domain import DEFAULT_GRACE_HOURS
from .domain import LotPolicy


def lot_policy(settings: Settings) -> LotPolicy:
    """Which lots the consumption engine may take: ``sell_from_one_warehouse``
    (default true, as OpenEMR's SELL_FROM_ONE_WAREHOUSE) and
    ``block_days_before_expiry`` (default 0, OpenEMR's behaviour)."""
    return LotPolicy(
        sell_from_one_warehouse=settings.get_bool("sell_from_one_warehouse", True),
        block_days_before_expiry=settings.get_int("block_days_before_expiry", 0),
    )


def grace_hours(settings: Settings) -> int:
    """The grace after beyond-use before what is left is waste (setting
    ``container_grace_hours``, default 12: a fee sheet saved late still draws)."""
    return settings.get_int("container_grace_hours", DEFAULT_GRACE_HOURS, minimum=0)
