"""The demo's alert step: one scan on the demo database, showing the digest and
the CRM ``notification_log`` row it produced."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from ..bootstrap import App, build_app
from ..unit_of_work import UnitOfWork
from .repositories import TargetsRepository
from .service import ScanResult, run_alert_scan

if TYPE_CHECKING:
    from ..demo import DemoContext


def demo_alert_scan(app: App) -> ScanResult:
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


def demo_alert_lines(ctx: DemoContext) -> Sequence[str]:
    """A ``DemoStep.run`` function: scan the demo database, return lines to print
    (the CRM row's fields and the digest)."""
    # its own root on the scratch engine, default settings (no environment): the demo
    # always shows the CRM channel
    result = demo_alert_scan(build_app(environ={}, engine=ctx.engine))
    lines = [
        f"alert scan: {result.current} item(s) need attention, {len(result.notified)} notified"
    ]
    row = latest_crm_row(ctx.engine)
    if row is not None:
        lines.append("CRM notification_log row:")
        lines.extend(f"  {key} = {_show(value)}" for key, value in row.items() if key != "message")
    if result.digest_text:
        lines.append("digest (notification_log.message):")
        lines.extend("  " + line for line in result.digest_text.rstrip().splitlines())
    return lines
