"""Job: seal the movement ledger (issue 17 G): append a link of the hash chain over the
rows older than five minutes, so ``doctor`` can tell when history was rewritten."""

from __future__ import annotations

import logging

from aesthetic_inventory.bootstrap import App
from aesthetic_inventory.install.ledger_seal import SealOutcome, seal_ledger

log = logging.getLogger("aesthetic_inventory.jobs.ledger_seal")

# Hourly: a seal is one range scan of the rows since the last one.
SEAL_INTERVAL_SECONDS = 3600.0


def run_ledger_seal_job(app: App) -> SealOutcome:
    """One seal; a ledger that no longer matches its seals is logged as an error (and
    reported by ``doctor``), never sealed over."""
    with app.unit_of_work() as uow:
        outcome = seal_ledger(uow.connection, sealed_by=app.settings.service_username)
        uow.commit()
    if outcome.message.startswith("not sealed"):
        log.error("ledger seal job: %s; run 'aesthetic-inventory doctor'", outcome.message)
    else:
        log.log(logging.INFO if outcome.sealed else logging.DEBUG,
                "ledger seal job: %s", outcome.message)
    return outcome
