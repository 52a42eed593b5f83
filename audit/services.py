"""The audit writer: the only code that inserts audit events.

Engine services call ``record_event`` inside their own transaction, after
locking the request row, so events of one request are appended one at a time;
the unique (chain, seq) constraint turns any slip in that discipline into an
error instead of a fork in the chain. Because of that lock, a chain's head is
read from the database once per transaction and then remembered (see
``_TransactionHeads``): a service writing five events pays one lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from .hashing import GENESIS_HASH, canonical_json, compute_hash, normalize
from .models import ArchivedEvent, AuditEvent

__all__ = [
    "GENESIS_HASH",
    "SYSTEM",
    "Actor",
    "canonical_json",
    "chain_for",
    "compute_hash",
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


def _stored_head(connection: BaseDatabaseWrapper, chain: str) -> tuple[int, str]:
    """(seq, hash) of the chain's last stored event; (0, GENESIS_HASH) for a new chain."""
    sql = _STORED_HEAD_SQL.format(
        hot=connection.ops.quote_name(AuditEvent._meta.db_table),
        archived=connection.ops.quote_name(ArchivedEvent._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [chain, chain])
        row = cursor.fetchone()
    return (row[0], row[1]) if row else (0, GENESIS_HASH)


def _stored_heads(chains: set[str]) -> dict[str, tuple[int, str]]:
    """``_stored_head`` for many chains: one query per tier (hot first; a chain
    whose events all moved to the archive has its head there)."""
    from django.db.models import OuterRef, Subquery

    heads: dict[str, tuple[int, str]] = {}
    for model in (AuditEvent, ArchivedEvent):
        missing = chains - heads.keys()
        if not missing:
            break
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
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        # An event outside a transaction could outlive the change it describes.
        raise RuntimeError("record_event must run inside the caller's transaction")
    chain = chain or chain_for(request_id=request_id, workflow_key=workflow_key)
    heads = _transaction_heads(connection)
    head = heads.heads.get(chain)
    last_seq, last_hash = head if head is not None else _stored_head(connection, chain)
    event = _chained(
        chain, last_seq, last_hash, event_type=event_type, actor=actor, request_id=request_id,
        workflow_key=workflow_key, workflow_version=workflow_version, payload=payload,
        snapshot=snapshot, inputs=inputs, at=at, imported=imported,
    )
    event.save(force_insert=True)
    heads.heads[chain] = (event.seq, event.hash)
    return event


def record_events(events: list[dict[str, Any]]) -> list[AuditEvent]:
    """Append many events, in the given order, with one INSERT: each item holds
    ``record_event``'s keyword arguments, and the rows are exactly the ones that
    many ``record_event`` calls would write. Same rule: inside the caller's
    transaction, which holds the locks of every chain named. The heads of chains
    this transaction has not touched yet are read in one query per tier."""
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("record_events must run inside the caller's transaction")
    heads = _transaction_heads(connection)
    chains = [
        e.get("chain") or chain_for(request_id=e.get("request_id"),
                                    workflow_key=e.get("workflow_key", ""))
        for e in events
    ]
    unknown = set(chains) - heads.heads.keys()
    if unknown:
        heads.heads.update(_stored_heads(unknown))
    rows = []
    for chain, kwargs in zip(chains, events, strict=True):
        last_seq, last_hash = heads.heads.get(chain, (0, GENESIS_HASH))
        kwargs = {k: v for k, v in kwargs.items() if k != "chain"}
        row = _chained(chain, last_seq, last_hash, **kwargs)
        heads.heads[chain] = (row.seq, row.hash)
        rows.append(row)
    return AuditEvent.objects.bulk_create(rows)


def _chained(
    chain: str,
    last_seq: int,
    last_hash: str,
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
    """The (unsaved) event that follows ``(last_seq, last_hash)`` on ``chain``."""
    event = AuditEvent(
        at=at or timezone.now(),
        chain=chain,
        seq=last_seq + 1,
        request_id=request_id,
        workflow_key=workflow_key,
        workflow_version=workflow_version,
        event_type=event_type,
        actor=normalize(actor.as_dict()),
        actor_username=actor.user,
        on_behalf_of_username=actor.on_behalf_of or "",
        payload=normalize(payload or {}),
        snapshot=normalize(snapshot or {}),
        inputs=normalize(inputs or {}),
        imported=imported,
        prev_hash=last_hash,
    )
    event.hash = compute_hash(event)
    return event
