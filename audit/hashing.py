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
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson

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
    """Round-trips through canonical JSON so what is hashed is what is stored (read
    back with ``loads``: what ``json.loads`` gives, faster; every event's payload,
    snapshot and inputs pass here)."""
    return loads(canonical_json(data))


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


def hash_matches(fields: dict[str, Any], expected: str) -> bool:
    """Whether ``fields`` (as ``hash_fields`` takes them, decoded from stored JSON)
    hash to ``expected``: what audit_verify asks of every event.

    orjson writes the canonical JSON of almost every event byte for byte, several
    times faster than the json module; where it cannot (an integer beyond 64 bits)
    or spells a value otherwise (a float's exponent: ``1e-7`` against ``1e-07``), the
    canonical encoder decides. Equal digests mean equal text, so the fast path
    accepts nothing the canonical one would refuse."""
    try:
        text = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        pass
    else:
        if hashlib.sha256(text).hexdigest() == expected:
            return True
    return hash_fields(fields) == expected


# 19 digits in a row may be an integer beyond 64 bits, which orjson reads as a float.
_LONG_NUMBER = re.compile(r"\d{19}")


def loads(text: str) -> Any:
    """Stored JSON decoded as ``json.loads`` decodes it: with orjson, several times
    faster, unless the text may hold an integer beyond its range."""
    if _LONG_NUMBER.search(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def hash_material(material: dict[str, Any]) -> str:
    """SHA-256 of one event's material, its other keys ignored (an archive line
    also holds its hash)."""
    return hash_fields(hashed_fields(material))


def hashed_fields(material: dict[str, Any]) -> dict[str, Any]:
    """The ``HASHED_FIELDS`` of one event's material (an archive line also holds its hash)."""
    return {name: material.get(name) for name in HASHED_FIELDS}


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
