"""Recall services: open (quarantine, record, notify), list, show, close.

``open_recall`` is one transaction (re-run whole on a deadlock): the user's OpenEMR
permission, the recall row, the quarantine transfers (written as OpenEMR's lot screen
writes a transfer, through the stock package), one ``pnotes`` message per provider and
the audit rows. Running it again for the same lot finds the open recall and changes
nothing unless new stock of the lot turned up outside quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from ..acl import load_grants
from ..db import existing_tables, require_openemr
from ..errors import InvalidInputError, NotOpenEMRError
from ..stock.repository import StockRepository
from ..stock.service import TransferResult, transfer_in
from ..unit_of_work import UnitOfWork, UnitOfWorkFactory, retry_on_lock_conflict
from . import domain
from .domain import AffectedPatient, Recall, RecallInputError
from .repository import MODULE_TABLES, RecallRepository, clinic_details


class RecallPermissionError(InvalidInputError):
    """The user may not manage recalls in OpenEMR."""


@dataclass(frozen=True)
class OpenResult:
    """What ``recall open`` did (``created`` False: the recall was open already)."""

    recall: Recall
    created: bool
    moves: tuple[TransferResult, ...]
    patients: tuple[AffectedPatient, ...]
    notified: tuple[str, ...]  # providers messaged by this run
    unassigned: tuple[int, ...]  # pids whose visits name no provider
    clinic: dict[str, str]

    @property
    def changed(self) -> bool:
        return self.created or bool(self.moves) or bool(self.notified)


@dataclass(frozen=True)
class RecallView:
    """A recall with its patients, its lots' state, its messages and its audit trail."""

    recall: Recall
    patients: tuple[AffectedPatient, ...]
    lots: tuple[domain.LotState, ...]
    notices: dict[str, int]
    audit: tuple[tuple[str, str, datetime, str], ...]
    clinic: dict[str, str]


def _check(uow: UnitOfWork, user: str) -> RecallRepository:
    require_openemr(uow.connection)
    if len(existing_tables(uow.connection, MODULE_TABLES)) < len(MODULE_TABLES):
        raise NotOpenEMRError("the recall tables are missing: run 'aesthetic-inventory migrate'")
    if not load_grants(uow.connection, user).manage_recalls:
        raise RecallPermissionError(
            f"user {user!r} may not manage recalls: OpenEMR grants it with "
            "inventory/purchases or admin/drugs")
    return uow.get(RecallRepository)


def _product(repo: RecallRepository, product: int | str | None) -> int | None:
    if product is None:
        return None
    found = repo.products(product)
    if not found:
        raise RecallInputError(f"no product {product!r} (give a drug id or an exact name)")
    if len(found) > 1:
        raise RecallInputError(f"{len(found)} products are named {product!r}; use the id")
    return found[0][0]


def _quarantine_warehouse(repo: RecallRepository) -> str:
    """The quarantine warehouse, created if missing; refused if OpenEMR would sell
    from it (seq 99 or below, or inactive: sellDrug's join then sees no seq)."""
    name = domain.QUARANTINE_WAREHOUSE
    found = repo.warehouse(name)
    if found is None:
        repo.create_warehouse(name, domain.QUARANTINE_TITLE, domain.QUARANTINE_SEQ)
        found = repo.warehouse(name)
    seq, active = found or (0, 0)
    if not active or domain.sellable_warehouse(seq):
        raise RecallInputError(
            f"warehouse {name!r} has order {seq}{'' if active else ' and is inactive'}: "
            "OpenEMR would sell from it; in OpenEMR's list editor make it active with an "
            "order above 99")
    return name


def _quarantine(uow: UnitOfWork, repo: RecallRepository, recall: Recall, user: str,
                today: date) -> list[TransferResult]:
    lots = repo.lot_ids(recall.lot_number, recall.drug_id)
    moves = []
    stock = uow.get(StockRepository)
    for lot in domain.to_quarantine(repo.lot_states([i for i, _ in lots]),
                                    recall.quarantine_warehouse):
        moves.append(transfer_in(
            stock, lot.inventory_id, recall.quarantine_warehouse, lot.on_hand, user=user,
            today=today, notes=f"Recall {recall.id}: lot {recall.lot_number} to quarantine"))
    return moves


def _notify(repo: RecallRepository, recall: Recall, patients: list[AffectedPatient],
            user: str, now: datetime) -> list[str]:
    done = repo.notified(recall.id)
    sender_id = repo.user_id(user)
    written = []
    for notice in domain.provider_notices(recall, patients):
        if notice.provider in done:
            continue
        pnote = repo.insert_pnote(body=notice.text, sender=user, sender_id=sender_id,
                                  title=notice.title, assigned_to=notice.provider, now=now)
        repo.record_notice(recall.id, notice.provider, pnote, len(notice.patients), now)
        written.append(notice.provider)
    return written


def open_recall(uow_factory: UnitOfWorkFactory, lot_number: str, *, reason: str, user: str,
                product: int | str | None = None, now: datetime | None = None) -> OpenResult:
    """Open (or find) the recall of a lot, quarantine its stock, message the providers."""
    lot_number, reason = domain.clean_lot(lot_number), domain.clean_reason(reason)
    when = (now or datetime.now()).replace(microsecond=0)

    def attempt() -> OpenResult:
        with uow_factory() as uow:
            repo = _check(uow, user)
            drug_id = _product(repo, product)
            lots = repo.lot_ids(lot_number, drug_id)
            if not lots:
                raise RecallInputError(f"no lot numbered {lot_number!r}" + (
                    f" for product {product!r}" if product is not None else ""))
            # the stock package's lock order: products, then every lot of the number in
            # inventory_id order; the recall row after them
            uow.get(StockRepository).lock_products(sorted({d for _, d in lots}))
            uow.get(StockRepository).lock_lots([i for i, _ in lots])
            key = domain.open_key(lot_number, drug_id)
            recall, created = repo.find_open(key, lock=True), False
            if recall is None:
                warehouse = _quarantine_warehouse(repo)
                new_id = repo.insert(lot_number=lot_number, drug_id=drug_id, reason=reason,
                                     key=key, warehouse=warehouse, user=user, now=when)
                recall = repo.find_open(key, lock=True)
                created = new_id is not None
                assert recall is not None
                if created:
                    repo.audit(recall.id, "open", user, reason, when)
            moves = _quarantine(uow, repo, recall, user, when.date())
            if moves:
                repo.audit(recall.id, "quarantine", user, "; ".join(
                    f"lot {m.source.inventory_id}: {m.quantity} unit(s) to lot "
                    f"{m.destination_id}" for m in moves), when)
            patients = domain.group_patients(repo.exposures(lot_number, drug_id))
            notified = _notify(repo, recall, patients, user, when)
            if notified:
                repo.audit(recall.id, "notify", user, "messaged " + ", ".join(notified), when)
            uow.commit()
            return OpenResult(recall, created, tuple(moves), tuple(patients),
                              tuple(notified),
                              tuple(p.pid for p in patients if not p.providers),
                              clinic_details(uow.connection))

    return retry_on_lock_conflict(attempt)


def list_recalls(uow_factory: UnitOfWorkFactory, *, user: str) -> list[Recall]:
    """Every recall, newest first."""
    with uow_factory() as uow:
        return _check(uow, user).all()


def show_recall(uow_factory: UnitOfWorkFactory, recall_id: int, *, user: str) -> RecallView:
    """A recall with the patients who received the lot (as of now)."""
    with uow_factory() as uow:
        repo = _check(uow, user)
        recall = repo.get(recall_id)
        if recall is None:
            raise RecallInputError(f"no recall {recall_id}")
        lots = repo.lot_states([i for i, _ in repo.lot_ids(recall.lot_number,
                                                             recall.drug_id)])
        patients = domain.group_patients(repo.exposures(recall.lot_number, recall.drug_id))
        return RecallView(recall, tuple(patients), tuple(lots), repo.notified(recall.id),
                          tuple(repo.audit_trail(recall.id)), clinic_details(uow.connection))


def close_recall(uow_factory: UnitOfWorkFactory, recall_id: int, *, user: str, note: str = "",
                 now: datetime | None = None) -> Recall:
    """Close a recall. The stock stays in quarantine: moving it back (or destroying it)
    is a transfer the user decides."""
    when = (now or datetime.now()).replace(microsecond=0)
    note = " ".join(note.split())[:domain.MAX_REASON]
    with uow_factory() as uow:
        repo = _check(uow, user)
        recall = repo.get(recall_id, lock=True)
        if recall is None:
            raise RecallInputError(f"no recall {recall_id}")
        if recall.status == "closed":
            raise RecallInputError(
                f"recall {recall_id} was closed by {recall.closed_by} at {recall.closed_at}")
        repo.close(recall_id, user=user, note=note, now=when)
        repo.audit(recall_id, "close", user, note, when)
        uow.commit()
        closed = repo.get(recall_id)
    assert closed is not None
    return closed
