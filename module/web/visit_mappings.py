"""Which mappings a visit has, for the PUT's ``usageId`` -> billed code and product.

Two reads (the live billing lines' mappings and the recorded ones) instead of the whole
usage view (six), so a PUT stays within its round-trip budget (issue 21).
"""

from __future__ import annotations

from ..unit_of_work import UnitOfWorkFactory
from ..usage.repository import UsageRepository


def visit_mappings(uow_factory: UnitOfWorkFactory, pid: int, encounter: int
                   ) -> dict[int, tuple[str, int]]:
    """Mapping id -> (``code_type:code``, drug id) for the visit's live or recorded
    mappings (what a nurse can address by ``usageId``)."""
    with uow_factory() as uow:
        repo = uow.get(UsageRepository)
        live = repo.live_planned(pid, encounter)
        records = repo.records(pid, encounter)
    found = {mapping: (f"{ref.code_type}:{ref.code}", ref.drug_id)
             for mapping, (ref, _planned) in live.items()}
    for mapping, record in records.items():
        found.setdefault(mapping, (f"{record.code_type}:{record.code}", record.drug_id))
    return found
