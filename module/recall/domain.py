"""The recall room's pure rules: who is affected, which lots go to quarantine, what each
provider is told and what the call list holds. Frozen dataclasses, no SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from ..errors import InvalidInputError

# OpenEMR's sellDrug (interface/drugs/drugs.inc.php) skips every lot in a warehouse whose
# list_options.seq is above 99 unless it is the user's own default warehouse; the lot
# screen's transfer moves stock between warehouses. So a recall moves what is left to
# a warehouse of that kind and both OpenEMR and this module stop selling it.
QUARANTINE_WAREHOUSE = "quarantine"
QUARANTINE_TITLE = "Quarantine (recalls)"
QUARANTINE_SEQ = 999
UNAVAILABLE_ABOVE_SEQ = 99
PNOTE_TITLE = "Pharmacy"  # an OpenEMR note_type the messages screen offers
MAX_REASON = 1000


class RecallInputError(InvalidInputError):
    """A recall request that cannot be carried out (nothing was changed)."""


@dataclass(frozen=True)
class Recall:
    """One recall of a lot number, open or closed."""

    id: int
    lot_number: str
    drug_id: int | None
    reason: str
    status: str
    quarantine_warehouse: str
    opened_by: str
    opened_at: datetime
    closed_by: str | None = None
    closed_at: datetime | None = None
    close_note: str | None = None


@dataclass(frozen=True)
class LotState:
    """A lot carrying the recalled number, and the warehouse it is in."""

    inventory_id: int
    drug_id: int
    product: str
    warehouse_id: str
    warehouse_seq: int | None  # None: warehouse not in the list or inactive
    on_hand: int
    destroyed: bool


@dataclass(frozen=True)
class Exposure:
    """Units of the lot one patient kept at one visit (sales net of returns)."""

    pid: int
    name: str
    dob: date | None
    phone: str
    email: str
    encounter: int
    visit_date: date | None
    units: int
    provider: str  # users.username, '' when the visit names none
    provider_name: str
    product: str
    inventory_id: int
    container: str = ""


@dataclass(frozen=True)
class AffectedPatient:
    """Everything the call list and the letter need about one patient."""

    pid: int
    name: str
    dob: date | None
    phone: str
    email: str
    visits: tuple[Exposure, ...]

    @property
    def units(self) -> int:
        return sum(v.units for v in self.visits)

    @property
    def providers(self) -> tuple[str, ...]:
        """Provider usernames of the visits, first seen first."""
        return tuple(dict.fromkeys(v.provider for v in self.visits if v.provider))

    @property
    def provider_names(self) -> str:
        return ", ".join(dict.fromkeys(v.provider_name or v.provider
                                       for v in self.visits if v.provider))

    @property
    def containers(self) -> str:
        return ", ".join(dict.fromkeys(v.container for v in self.visits if v.container))


@dataclass(frozen=True)
class ProviderNotice:
    """One OpenEMR message to one provider about their patients in a recall."""

    provider: str
    patients: tuple[AffectedPatient, ...]
    title: str
    text: str


def clean_reason(reason: str) -> str:
    """The recall's reason: required, one line, at most 1000 characters."""
    text = " ".join((reason or "").split())
    if not text:
        raise RecallInputError("--reason is required: say why the lot is recalled")
    if len(text) > MAX_REASON:
        raise RecallInputError(f"--reason is {len(text)} characters; at most {MAX_REASON}")
    return text


def clean_lot(lot_number: str) -> str:
    """The lot number as OpenEMR stores it (``drug_inventory.lot_number`` is 20 chars)."""
    text = (lot_number or "").strip()
    if not text:
        raise RecallInputError("--lot must not be empty")
    if len(text) > 20:
        raise RecallInputError(f"--lot {text!r} is longer than OpenEMR's 20 characters")
    return text


def open_key(lot_number: str, drug_id: int | None) -> str:
    """The unique key of an open recall: one open recall per lot (and product)."""
    return f"{lot_number.lower()}|{drug_id or ''}"


def sellable_warehouse(seq: int | None) -> bool:
    """Would sellDrug sell from a warehouse with this seq (not the user's default)?"""
    return (seq or 0) <= UNAVAILABLE_ABOVE_SEQ


def to_quarantine(lots: Iterable[LotState], quarantine: str) -> list[LotState]:
    """Lots whose stock must move: live, holding units, not already in quarantine."""
    return [lot for lot in lots
            if not lot.destroyed and lot.on_hand > 0 and lot.warehouse_id != quarantine]


def still_sellable(recall: Recall, lot: LotState) -> bool:
    """Stock of an open recall that OpenEMR would still sell (received after the recall,
    or the quarantine warehouse's order was changed in OpenEMR's list editor)."""
    return (recall.status == "open" and not lot.destroyed and lot.on_hand > 0
            and sellable_warehouse(lot.warehouse_seq))


def group_patients(exposures: Sequence[Exposure]) -> list[AffectedPatient]:
    """One entry per patient, visits in date order, patients by first visit."""
    by_pid: dict[int, list[Exposure]] = {}
    for e in exposures:
        by_pid.setdefault(e.pid, []).append(e)
    patients = []
    for pid, visits in by_pid.items():
        visits.sort(key=lambda v: (v.visit_date or date.min, v.encounter, v.inventory_id))
        first = visits[0]
        patients.append(AffectedPatient(pid, first.name, first.dob, first.phone, first.email,
                                        tuple(visits)))
    patients.sort(key=lambda p: (p.visits[0].visit_date or date.min, p.pid))
    return patients


def provider_notices(recall: Recall, patients: Sequence[AffectedPatient]
                     ) -> list[ProviderNotice]:
    """One message per provider listing that provider's affected patients."""
    mine: dict[str, list[AffectedPatient]] = {}
    for patient in patients:
        for provider in patient.providers:
            mine.setdefault(provider, []).append(patient)
    notices = []
    for provider, theirs in sorted(mine.items()):
        lines = [f"Recall {recall.id} of lot {recall.lot_number}: {recall.reason}",
                 f"{len(theirs)} of your patients received units of this lot:"]
        for p in theirs:
            visits = ", ".join(f"{v.visit_date or '?'} ({v.units} u)" for v in p.visits
                               if v.provider == provider)
            lines.append(f"- {p.name} (pid {p.pid}, DOB {p.dob or 'unknown'}, "
                         f"phone {p.phone or 'none'}): {visits}")
        lines.append("The remaining stock is in quarantine; the front desk has the "
                     "call list and letters.")
        notices.append(ProviderNotice(provider, tuple(theirs),
                                      f"{PNOTE_TITLE}", "\n".join(lines)))
    return notices


CALL_LIST_COLUMNS = ("pid", "name", "dob", "phone", "email", "visits", "units", "provider",
                     "container", "products")


def call_list_rows(patients: Sequence[AffectedPatient]) -> list[dict[str, str]]:
    """The CSV call list, one row per patient."""
    return [{
        "pid": str(p.pid),
        "name": p.name,
        "dob": p.dob.isoformat() if p.dob else "",
        "phone": p.phone,
        "email": p.email,
        "visits": "; ".join(f"{v.visit_date or ''} enc {v.encounter}" for v in p.visits),
        "units": str(p.units),
        "provider": p.provider_names,
        "container": p.containers,
        "products": ", ".join(dict.fromkeys(v.product for v in p.visits)),
    } for p in patients]
