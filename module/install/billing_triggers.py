"""The triggers on OpenEMR's ``billing`` table that queue changed visits.

OpenEMR's PHP fee sheet writes ``billing`` rows directly; these triggers record the
visit in ``aesthetic_inventory_change_queue`` so the worker reconciles it within about
a second. Each body runs at most one indexed insert (the queue's primary key and its
visit index), with plain VALUES and no read, under the fail-safe handler of
:class:`TriggerSpec`: a missing or renamed queue table, or a definer without INSERT on
it, can never make the fee-sheet save fail.

One limit no handler can lift: the server does not let a trigger handle a lock wait
timeout or a deadlock (they roll back the whole statement). So nothing the module does
blocks inserts into the queue: its connections read committed (no gap locks) and the
worker locks existing queue rows only (``FOR UPDATE SKIP LOCKED``); an admin's
``LOCK TABLES`` on the queue would make fee-sheet saves wait.
"""

from __future__ import annotations

from ..trigger_spec import TriggerSpec

QUEUE_TABLE = "aesthetic_inventory_change_queue"

# COALESCE keeps a NULL pid/encounter from failing the queue insert under strict mode.
_INSERT = f"INSERT INTO `{QUEUE_TABLE}` (pid, encounter, queued_at) "

TRIGGERS: tuple[TriggerSpec, ...] = (
    TriggerSpec(
        name="aesthetic_inventory_billing_ai",
        table="billing",
        event="AFTER INSERT",
        body=_INSERT + "VALUES (COALESCE(NEW.pid, 0), COALESCE(NEW.encounter, 0), NOW(6));",
        requires=(QUEUE_TABLE,),
    ),
    # Only changes that can alter the requirement queue the visit (checkout flips
    # billed/bill_process on every line and must not flood the queue); a line moved to
    # another visit queues both visits, still in one INSERT. Plain VALUES inserts (not
    # INSERT ... SELECT) take no table-level AUTO-INC lock, so concurrent saves never
    # wait for each other here.
    TriggerSpec(
        name="aesthetic_inventory_billing_au",
        table="billing",
        event="AFTER UPDATE",
        body="IF NOT (OLD.pid <=> NEW.pid AND OLD.encounter <=> NEW.encounter) THEN "
        + _INSERT
        + "VALUES (COALESCE(NEW.pid, 0), COALESCE(NEW.encounter, 0), NOW(6)), "
        "(COALESCE(OLD.pid, 0), COALESCE(OLD.encounter, 0), NOW(6)); "
        "ELSEIF NOT (OLD.code_type <=> NEW.code_type AND OLD.code <=> NEW.code "
        "AND OLD.units <=> NEW.units AND OLD.activity <=> NEW.activity "
        "AND OLD.user <=> NEW.user) THEN "
        + _INSERT
        + "VALUES (COALESCE(NEW.pid, 0), COALESCE(NEW.encounter, 0), NOW(6)); "
        "END IF;",
        requires=(QUEUE_TABLE,),
    ),
    TriggerSpec(
        name="aesthetic_inventory_billing_ad",
        table="billing",
        event="AFTER DELETE",
        body=_INSERT + "VALUES (COALESCE(OLD.pid, 0), COALESCE(OLD.encounter, 0), NOW(6));",
        requires=(QUEUE_TABLE,),
    ),
)
