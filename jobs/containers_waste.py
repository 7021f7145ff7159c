"""Job: write off what is left in containers past beyond-use plus the grace period
(``AESTHETIC_INVENTORY_CONTAINER_GRACE_HOURS``, default 12: a fee sheet saved late
still draws from the vial used that day)."""

from __future__ import annotations

import logging
from datetime import datetime

from aesthetic_inventory.bootstrap import App
from aesthetic_inventory.consumption.containers.service import WasteJobResult, write_off_expired
from aesthetic_inventory.consumption.policy import grace_hours

log = logging.getLogger("aesthetic_inventory.jobs.containers_waste")


def run_containers_waste_job(app: App, now: datetime | None = None) -> WasteJobResult:
    """Close the containers due and log one line when any was closed or failed."""
    result = write_off_expired(app.unit_of_work, now=now or datetime.now(),
                               grace_hours=grace_hours(app.settings),
                               user=app.settings.service_username)
    log.log(logging.INFO if result.closed or result.failed else logging.DEBUG,
            "containers waste job: %s closed (%s unit(s) wasted), %s failed",
            len(result.closed), sum(r.waste for r in result.closed), result.failed)
    return result
