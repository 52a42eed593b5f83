"""The audit writer: the only code that inserts audit events.

Engine services call ``record_event`` inside their own transaction, after
locking the request row, so events of one request are appended one at a time;
the unique (chain, seq) constraint turns any slip in that discipline into an
error instead of a fork in the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
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


def _chain_head(chain: str) -> tuple[int, str]:
    """(seq, hash) of the chain's last event, in the hot tier or, for a chain
    whose older events moved to the archive, in the archive's manifest."""
    last = AuditEvent.objects.filter(chain=chain).order_by("-seq").values("seq", "hash").first()
    if last is None:
        last = (
            ArchivedEvent.objects.filter(chain=chain).order_by("-seq").values("seq", "hash").first()
        )
    return (last["seq"], last["hash"]) if last else (0, GENESIS_HASH)


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
    if not transaction.get_connection().in_atomic_block:
        # An event outside a transaction could outlive the change it describes.
        raise RuntimeError("record_event must run inside the caller's transaction")
    chain = chain or chain_for(request_id=request_id, workflow_key=workflow_key)
    last_seq, last_hash = _chain_head(chain)
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
    event.save(force_insert=True)
    return event
