"""The hash scheme of the audit trail, in one place.

An event's hash is SHA-256 over the canonical JSON (sorted keys, no whitespace,
UTF-8) of its content and ``prev_hash``. Times are hashed in UTC, so an event
hashes the same whatever time zone it was written or read in. The same material
is what an archive file stores per line, so archived events verify with the
same code as hot ones.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

GENESIS_HASH = "0" * 64

# The fields of an event that its hash covers, in the order they are listed in
# archive files. Denormalized query columns (actor_username, …) are derived
# from these and checked against them by audit_verify.
HASHED_FIELDS = (
    "id",
    "at",
    "chain",
    "seq",
    "request_id",
    "workflow_key",
    "workflow_version",
    "event_type",
    "actor",
    "payload",
    "snapshot",
    "inputs",
    "imported",
    "prev_hash",
)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc_iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


# Made once: json.dumps with options builds a new encoder per call, and this runs
# once per event written and once per event verified.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default
)


def canonical_json(data: Any) -> str:
    """Sorted keys, no whitespace, UTF-8: the same event always hashes the same."""
    return _CANONICAL.encode(data)


def normalize(data: Any) -> Any:
    """Round-trips through canonical JSON so what is hashed is what is stored."""
    return json.loads(canonical_json(data))


def utc_iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with microseconds: one spelling per instant."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def material_of(event: Any) -> dict[str, Any]:
    """The hashed content of an AuditEvent (or anything with the same attributes)."""
    return {
        "id": str(event.id),
        "at": utc_iso(event.at),
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


def hash_fields(fields: dict[str, Any]) -> str:
    """SHA-256 of an event's hashed fields: a dict with exactly the keys of
    ``HASHED_FIELDS``, as ``material_of`` and verify build it."""
    return hashlib.sha256(canonical_json(fields).encode()).hexdigest()


def hash_material(material: dict[str, Any]) -> str:
    """SHA-256 of one event's material, its other keys ignored (an archive line
    also holds its hash)."""
    return hash_fields({name: material.get(name) for name in HASHED_FIELDS})


def compute_hash(event: Any) -> str:
    return hash_fields(material_of(event))


def checkpoint_entry_line(chain: str, seq: int, event_id: str, event_hash: str) -> bytes:
    """One chain head as it enters a checkpoint's digest."""
    return (canonical_json([chain, seq, event_id, event_hash]) + "\n").encode()


def checkpoint_hash(
    *, seq: int, at: datetime, prev_hash: str, entry_count: int, entries_digest: str
) -> str:
    data = {
        "seq": seq,
        "at": utc_iso(at),
        "prev_hash": prev_hash,
        "entry_count": entry_count,
        "entries_digest": entries_digest,
    }
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()
