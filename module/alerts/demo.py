"""The demo's alert step: one scan on the demo database, showing the digest and
the CRM ``notification_log`` row it produced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from ..unit_of_work import UnitOfWork
from .repositories import TargetsRepository
from .service import AlertRuntime, ScanResult, run_alert_scan


def demo_alert_scan(app: AlertRuntime) -> ScanResult:
    """Run one alert scan (CRM channel by default) and deliver it."""
    return run_alert_scan(app)


def latest_crm_row(engine: Engine) -> dict[str, Any] | None:
    """The newest ``notification_log`` row written by this module."""
    with UnitOfWork(engine) as uow:
        return uow.get(TargetsRepository).latest_crm_log()


def _show(value: object) -> str:
    """TIME columns arrive as timedelta: show them as MySQL does (00:00:00)."""
    if isinstance(value, timedelta):
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    return str(value)


def demo_alert_lines(app: AlertRuntime, engine: Engine) -> Sequence[str]:
    """The demo's alert step: scan the demo database (through ``app``, a root on
    ``engine``), return lines to print (the CRM row's fields and the digest)."""
    result = demo_alert_scan(app)
    lines = [
        f"alert scan: {result.current} item(s) need attention, {len(result.notified)} notified"
    ]
    row = latest_crm_row(engine)
    if row is not None:
        lines.append("CRM notification_log row:")
        lines.extend(f"  {key} = {_show(value)}" for key, value in row.items() if key != "message")
    if result.digest_text:
        lines.append("digest (notification_log.message):")
        lines.extend("  " + line for line in result.digest_text.rstrip().splitlines())
    return lines
