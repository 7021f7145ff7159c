"""Tamper evidence for the movement ledger: a hash chain of seals (issue 17 G).

The ledger's guard triggers refuse UPDATE and DELETE, but an account with TRUNCATE,
ALTER, DROP or TRIGGER on the table can still rewrite history. A *seal* records, for
the ledger rows with id up to ``through_id``, how many there are and a digest of their
contents, chained to the previous seal (``chain = SHA-256(previous chain | through_id
| row_count | digest)``). :func:`verify_ledger` recomputes every sealed segment from
the ledger: a row deleted or truncated away makes the count go backwards, a changed
row changes the digest, an altered seal breaks the chain. ``doctor`` reports it;
``migrate`` and the service's ``ledger-seal`` job append seals.

Rows younger than :data:`SEAL_MARGIN_SECONDS` are left for the next seal: their
transaction may still be open, and a lower id could commit after a higher one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy.engine import Connection

from .ledger_repository import LedgerSealRepository, Seal

SEAL_MARGIN_SECONDS = 300
_LOCK = "aesthetic_inventory_ledger_seal"


def chain_of(previous: str, through_id: int, row_count: int, digest: str) -> str:
    """The chain value of a seal that follows ``previous`` ('' for the first)."""
    return hashlib.sha256(f"{previous}|{through_id}|{row_count}|{digest}".encode()).hexdigest()


@dataclass(frozen=True)
class LedgerVerdict:
    """What :func:`verify_ledger` found."""

    installed: bool
    seals: int = 0
    sealed_rows: int = 0
    through_id: int = 0
    chain: str = ""
    newer_rows: int = 0  # rows after the last seal (not verified yet)
    problems: tuple[str, ...] = ()


def _check_seal(seal: Seal, counted: int, digest: str, previous: str) -> str | None:
    """The problem of one seal, or None when the ledger still matches it."""
    if counted < seal.row_count:
        return (f"seal {seal.id}: the ledger held {seal.row_count} row(s) through id "
                f"{seal.through_id}, now {counted}: {seal.row_count - counted} row(s) "
                "deleted or truncated away")
    if counted > seal.row_count:
        return (f"seal {seal.id}: {counted - seal.row_count} row(s) appeared in sealed "
                f"history (ids up to {seal.through_id})")
    if digest != seal.digest:
        return (f"seal {seal.id}: ledger rows with ids up to {seal.through_id} were changed "
                "after they were sealed")
    if chain_of(previous, seal.through_id, seal.row_count, seal.digest) != seal.chain:
        return f"seal {seal.id}: its chain does not follow from the seal before it"
    return None


def verify_ledger(conn: Connection) -> LedgerVerdict:
    """Recompute every sealed segment of the ledger (reads only)."""
    repo = LedgerSealRepository(conn)
    if not repo.installed():
        return LedgerVerdict(False)
    seals = repo.seals()
    problems: list[str] = []
    after, counted, previous = 0, 0, ""
    for seal in seals:
        segment = repo.segment(after, seal.through_id)
        digest = segment.digest
        if problems:
            digest = seal.digest  # report the first broken segment; later ones follow it
        problem = _check_seal(seal, counted + segment.rows, digest, previous)
        if problem:
            problems.append(problem)
        after, counted, previous = seal.through_id, seal.row_count, seal.chain
    newer = repo.segment(after, repo.last_ledger_id()).rows
    return LedgerVerdict(True, len(seals), counted, after, previous, newer, tuple(problems))


@dataclass(frozen=True)
class SealOutcome:
    """What :func:`seal_ledger` did."""

    sealed: bool
    message: str


def seal_ledger(conn: Connection, *, sealed_by: str,
                margin_seconds: int = SEAL_MARGIN_SECONDS) -> SealOutcome:
    """Append a seal over the ledger rows older than the margin, unless the ledger no
    longer matches its seals (sealing then would hide the change). One sealer at a time
    (a named lock); on an autocommit connection or inside the caller's transaction."""
    repo = LedgerSealRepository(conn)
    if not repo.installed():
        return SealOutcome(False, "ledger not installed")
    if not repo.lock(_LOCK):
        return SealOutcome(False, "another seal is being written")
    try:
        verdict = verify_ledger(conn)
        if verdict.problems:
            return SealOutcome(False, "not sealed: " + verdict.problems[0])
        through = repo.sealable_through(margin_seconds)
        if through <= verdict.through_id:
            return SealOutcome(False, f"sealed through id {verdict.through_id}; nothing new")
        segment = repo.segment(verdict.through_id, through)
        count = verdict.sealed_rows + segment.rows
        chain = chain_of(verdict.chain, through, count, segment.digest)
        repo.insert_seal(through, count, segment.digest, chain, sealed_by)
        return SealOutcome(True, f"sealed {count} ledger row(s) through id {through} "
                                 f"(chain {chain[:12]})")
    finally:
        repo.unlock(_LOCK)
