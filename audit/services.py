"""The audit writer: the only code that inserts audit events.

Engine services call ``record_event`` inside their own transaction, after
locking the request row, so events of one request are appended one at a time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from .models import AuditEvent

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class Actor:
    """Who did something: a username (or "system"), the role they acted in,
    the person they acted for, and the channel (web, api, email, slack, cli, sla)."""

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


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8: the same event always hashes the same."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
    )


def normalize(data: Any) -> Any:
    """Round-trips through canonical JSON so what is hashed is what is stored."""
    return json.loads(canonical_json(data))


def event_hash_material(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "at": event.at.isoformat(),
        "chain": event.chain,
        "seq": event.seq,
        "request_id": event.request_id,
        "workflow_key": event.workflow_key,
        "workflow_version": event.workflow_version,
        "event_type": event.event_type,
        "actor": event.actor,
        "payload": event.payload,
        "snapshot": event.snapshot,
        "inputs": event.inputs,
        "imported": event.imported,
        "prev_hash": event.prev_hash,
    }


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_json(event_hash_material(event)).encode()).hexdigest()


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
) -> AuditEvent:
    """Append one event to its chain. Must run inside the caller's transaction,
    which holds the lock that serializes writers of this chain (the request
    row, or the workflow row for publishing)."""
    chain = f"request:{request_id}" if request_id is not None else f"workflow:{workflow_key}"
    last = (
        AuditEvent.objects.filter(chain=chain).order_by("-seq").values("seq", "hash").first()
    )
    event = AuditEvent(
        at=at or timezone.now(),
        chain=chain,
        seq=(last["seq"] + 1) if last else 1,
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
        prev_hash=last["hash"] if last else GENESIS_HASH,
    )
    event.hash = compute_hash(event)
    event.save(force_insert=True)
    return event
