"""The audit writer: the only code that inserts audit events.

Engine services call ``record_event`` inside their own transaction, after
locking the request row, so events of one request are appended one at a time;
the unique (chain, seq) constraint turns any slip in that discipline into an
error instead of a fork in the chain. Because of that lock, a chain's head is
read from the database once per transaction and then remembered (see
``_TransactionHeads``): a service writing five events pays one lookup. Inside a
``deferred()`` block (every engine service call is one), ``append_event`` keeps
the events and the block's end inserts them with one statement.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from config import bulk_insert
from config.statements import Statement

from .hashing import GENESIS_HASH, canonical_json, compute_hash, normalize
from .models import ArchivedEvent, AuditEvent

__all__ = [
    "GENESIS_HASH",
    "SYSTEM",
    "Actor",
    "append_event",
    "canonical_json",
    "chain_for",
    "compute_hash",
    "deferred",
    "normalize",
    "record_event",
    "record_events",
]


@dataclass(frozen=True)
class Actor:
    """Who did something: a username (or "system"), the role they acted in,
    the person they acted for, and the channel (web, api, email, slack, cli, sla,
    import)."""

    user: str
    role: str | None = None
    on_behalf_of: str | None = None
    via: str = "system"

    def as_dict(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "role": self.role,
            "on_behalf_of": self.on_behalf_of,
            "via": self.via,
        }


SYSTEM = Actor(user="system", via="system")


def chain_for(*, request_id: int | None, workflow_key: str) -> str:
    """The chain an event belongs to: its request's, else its workflow's."""
    return f"request:{request_id}" if request_id is not None else f"workflow:{workflow_key}"


class _TransactionHeads:
    """The heads of the chains appended to (or looked up) while one transaction,
    at one savepoint depth, was open: ``chain -> (seq, hash)``.

    Writers of a chain are serialized by the caller's lock, held to the end of
    the transaction, so a head this transaction wrote stays the head until it
    commits; later events of the same chain need not read it again. What could
    make it wrong is a rollback of the write itself, so the object is registered
    as a (no-op) ``on_commit`` callback: Django drops a pending callback exactly
    when the writes made beside it are undone (a rollback, or a rollback to a
    savepoint of an ``atomic()`` block it was registered in) and runs and clears
    them all at commit. "Still pending" therefore means "still true".
    (Savepoints made by hand with ``transaction.savepoint()`` are not tracked,
    as for ``on_commit``; nothing here uses them.)

    Only one depth is cached per connection: writes inside a nested ``atomic()``
    start a fresh cache, registered in that savepoint, and so does the first
    write after it ends. A wrong guess is still no fork: the unique (chain, seq)
    constraint refuses a second event at one place."""

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.savepoints = tuple(connection.savepoint_ids)
        self.heads: dict[str, tuple[int, str]] = {}
        connection.on_commit(self)

    def __call__(self) -> None:
        """The on_commit callback: nothing to do, its presence is the point."""

    def still_valid(self, connection: BaseDatabaseWrapper) -> bool:
        return tuple(connection.savepoint_ids) == self.savepoints and any(
            callback is self for _, callback, _ in connection.run_on_commit
        )


# One per connection (connections are per thread), replaced when it goes stale.
_heads_of: WeakKeyDictionary[BaseDatabaseWrapper, _TransactionHeads] = WeakKeyDictionary()


def _transaction_heads(connection: BaseDatabaseWrapper) -> _TransactionHeads:
    heads = _heads_of.get(connection)
    if heads is None or not heads.still_valid(connection):
        heads = _heads_of[connection] = _TransactionHeads(connection)
    return heads


# The chain's last event, hot or, for a chain whose older events moved to the
# archive, in the archive's manifest; one round trip for both tiers. (The hot
# head, when there is one, is always the later: a chain is an archived prefix
# then a hot suffix.)
_STORED_HEAD_SQL = """
SELECT seq, hash FROM (
    SELECT seq, hash FROM {hot} WHERE chain = %s ORDER BY seq DESC LIMIT 1
) AS hot
UNION ALL
SELECT seq, hash FROM (
    SELECT seq, hash FROM {archived} WHERE chain = %s ORDER BY seq DESC LIMIT 1
) AS archived
ORDER BY seq DESC LIMIT 1
"""


_STORED_HEAD = Statement(
    _STORED_HEAD_SQL.format(
        hot=f'"{AuditEvent._meta.db_table}"', archived=f'"{ArchivedEvent._meta.db_table}"'
    )
)


def _stored_head(connection: BaseDatabaseWrapper, chain: str) -> tuple[int, str]:
    """(seq, hash) of the chain's last stored event; (0, GENESIS_HASH) for a new chain.
    Every service call's first event asks: a prepared statement on PostgreSQL."""
    with connection.cursor() as cursor:
        _STORED_HEAD.execute(connection, cursor, [chain, chain])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


# One backward index step per chain (the last entry of (chain, seq)) and one heap
# row for its hash: the portable form below reads every event of every chain.
_LAST_OF_EACH_SQL = """
SELECT c.chain, last.seq, last.hash FROM unnest(%s::text[]) AS c(chain)
CROSS JOIN LATERAL (
    SELECT seq, hash FROM {table} WHERE chain = c.chain ORDER BY seq DESC LIMIT 1
) AS last
"""


def _stored_heads(chains: set[str]) -> dict[str, tuple[int, str]]:
    """``_stored_head`` for many chains: one query per tier (hot first; a chain
    whose events all moved to the archive has its head there)."""
    from django.db.models import OuterRef, Subquery

    heads: dict[str, tuple[int, str]] = {}
    connection = transaction.get_connection()
    for model in (AuditEvent, ArchivedEvent):
        missing = chains - heads.keys()
        if not missing:
            break
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(model._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(_LAST_OF_EACH_SQL.format(table=table), [sorted(missing)])
                heads.update((chain, (seq, hash_)) for chain, seq, hash_ in cursor.fetchall())
            continue
        last = model.objects.filter(chain=OuterRef("chain")).order_by("-seq").values("seq")[:1]
        found = (
            model.objects.filter(chain__in=missing, seq=Subquery(last))
            .order_by()
            .values_list("chain", "seq", "hash")
        )
        heads.update((chain, (seq, hash_)) for chain, seq, hash_ in found)
    return heads


def record_event(
    *,
    event_type: str,
    actor: Actor,
    request_id: int | None = None,
    workflow_key: str = "",
    workflow_version: int | None = None,
    payload: dict[str, Any] | None = None,
    snapshot: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    at: datetime | None = None,
    imported: bool = False,
    chain: str | None = None,
) -> AuditEvent:
    """Append one event to its chain and return it.

    Must run inside the caller's transaction, which holds the lock that
    serializes writers of this chain (the request row, or the workflow row for
    publishing). ``chain`` overrides the default (``request:<id>`` or
    ``workflow:<key>``) for the audit trail's own chains (``archive``)."""
    _require_transaction("record_event")
    _flush_deferred()
    event = _unplaced(
        event_type=event_type, actor=actor, request_id=request_id, workflow_key=workflow_key,
        workflow_version=workflow_version, payload=payload, snapshot=snapshot, inputs=inputs,
        at=at, imported=imported,
    )
    [event] = _append([(chain or event.chain, event)], bulk=False)
    return event


def record_events(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append many events, in the given order, with one INSERT: each item holds
    ``record_event``'s keyword arguments, and the rows are exactly the ones that
    many ``record_event`` calls would write. Same rule: inside the caller's
    transaction, which holds the locks of every chain named. The heads of chains
    this transaction has not touched yet are read in one query per tier."""
    _require_transaction("record_events")
    _flush_deferred()
    placed = []
    for kwargs in events:
        event = _unplaced(**{k: v for k, v in kwargs.items() if k != "chain"})
        placed.append((kwargs.get("chain") or event.chain, event))
    return _append(placed, bulk=True)


class _Deferred(threading.local):
    """Per thread: the events of the open ``deferred()`` blocks, innermost last."""

    def __init__(self) -> None:
        self.blocks: list[list[tuple[str, AuditEvent]]] = []


_deferred = _Deferred()


@contextmanager
def deferred() -> Iterator[None]:
    """Inside this block ``append_event`` keeps its events and the block's end
    appends them all with one INSERT (one head lookup per chain), still inside the
    caller's transaction: a service's four events cost one statement, not four.

    Each event is built when it is appended (its time, its normalized copies of
    payload, snapshot and inputs), so it records the moment it describes. If the
    block raises, its events are dropped with the rest of its work. Any other
    write to the trail meanwhile (``record_event``, ``record_events``, a nested
    block) first appends what is pending, so a chain keeps the order of events."""
    _flush_deferred()
    _deferred.blocks.append([])
    try:
        yield
    except BaseException:
        _deferred.blocks.pop()
        raise
    pending = _deferred.blocks.pop()
    if pending:
        _append(pending, bulk=True)


def append_event(**kwargs: Any) -> None:
    """``record_event``, deferred to the end of the enclosing ``deferred()`` block
    when there is one (immediate otherwise)."""
    if not _deferred.blocks:
        record_event(**kwargs)
        return
    _require_transaction("append_event")
    chain = kwargs.pop("chain", None)
    event = _unplaced(**kwargs)
    _deferred.blocks[-1].append((chain or event.chain, event))


def _flush_deferred() -> None:
    """Append the innermost block's pending events now (only the innermost can have
    any: opening a block flushes the one around it)."""
    if _deferred.blocks and _deferred.blocks[-1]:
        pending = list(_deferred.blocks[-1])
        _deferred.blocks[-1].clear()
        _append(pending, bulk=True)


def _require_transaction(what: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        # An event outside a transaction could outlive the change it describes.
        raise RuntimeError(f"{what} must run inside the caller's transaction")


def _append(events: list[tuple[str, AuditEvent]], *, bulk: bool) -> list[AuditEvent]:
    """Give each (chain, unplaced event) its place after its chain's head, in order,
    and insert them: with ``bulk``, one INSERT for all."""
    connection = transaction.get_connection()
    heads = _transaction_heads(connection)
    unknown = {chain for chain, _ in events} - heads.heads.keys()
    if len(unknown) == 1:
        [chain] = unknown
        heads.heads[chain] = _stored_head(connection, chain)
    elif unknown:
        heads.heads.update(_stored_heads(unknown))
    for chain, event in events:
        last_seq, last_hash = heads.heads.get(chain, (0, GENESIS_HASH))
        event.chain, event.seq, event.prev_hash = chain, last_seq + 1, last_hash
        event.hash = compute_hash(event)
        heads.heads[chain] = (event.seq, event.hash)
    rows = [event for _, event in events]
    if bulk and bulk_insert.available(connection):
        # One JSON parameter for the whole batch (see config.bulk_insert): binding a
        # few hundred events cell by cell cost more than building them, and for one
        # event bulk_create's own path costs more than this one.
        bulk_insert.insert_rows(connection, rows)
        for event in rows:
            event._state.adding, event._state.db = False, connection.alias
        return rows
    if bulk:
        return AuditEvent.objects.bulk_create(rows)
    for event in rows:
        event.save(force_insert=True)
    return rows


def _unplaced(
    *,
    event_type: str,
    actor: Actor,
    request_id: int | None = None,
    workflow_key: str = "",
    workflow_version: int | None = None,
    payload: dict[str, Any] | None = None,
    snapshot: dict[str, Any] | None = None,
    inputs: dict[str, Any] | None = None,
    at: datetime | None = None,
    imported: bool = False,
) -> AuditEvent:
    """The (unsaved) event, on its default chain but not yet placed on it: seq,
    prev_hash and hash are set by ``_append``."""
    return AuditEvent(
        at=at or timezone.now(),
        chain=chain_for(request_id=request_id, workflow_key=workflow_key),
        request_id=request_id,
        workflow_key=workflow_key,
        workflow_version=workflow_version,
        event_type=event_type,
        actor=_actor_dict(actor),
        actor_username=actor.user,
        on_behalf_of_username=actor.on_behalf_of or "",
        payload=normalize(payload or {}),
        snapshot=normalize(snapshot or {}),
        inputs=normalize(inputs or {}),
        imported=imported,
    )


# The few actors that write most events (the SLA, the system) normalized once each:
# an actor is made of strings, so its normalized dict is a plain copy of as_dict().
_ACTORS_MAX = 256
_actors: dict[Actor, dict[str, Any]] = {}


def _actor_dict(actor: Actor) -> dict[str, Any]:
    try:
        known = _actors.get(actor)
    except TypeError:  # a field that cannot be hashed (not a string): not kept
        return normalize(actor.as_dict())
    if known is None:
        known = normalize(actor.as_dict())
        if len(_actors) >= _ACTORS_MAX:
            _actors.clear()
        _actors[actor] = known
    return dict(known)
