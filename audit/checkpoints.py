"""Checkpoints: every chain head, hashed into a chain of its own.

A hash chain shows that nothing inside it was edited, inserted or removed, but
not that the whole chain (or its last events) still exists. A checkpoint
records the head (chain, seq, event id, hash) of every chain that grew since
the previous checkpoint, and chains itself to that previous checkpoint;
``audit_verify`` then insists each recorded head still exists.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .hashing import GENESIS_HASH, checkpoint_entry_line, checkpoint_hash
from .locks import serialize
from .models import AuditCheckpoint, AuditEvent, CheckpointEntry

# Rows written this long before the previous checkpoint are looked at again: a
# transaction that started before it may have committed after it.
OVERLAP = timedelta(hours=1)


def _unrecorded_heads(since: datetime | None):  # -> QuerySet of (chain, seq, id, hash)
    successor = AuditEvent.objects.filter(chain=OuterRef("chain"), seq=OuterRef("seq") + 1)
    recorded = CheckpointEntry.objects.filter(
        chain=OuterRef("chain"), seq=OuterRef("seq"), hash=OuterRef("hash")
    )
    heads = AuditEvent.objects.all()
    if since is not None:
        heads = heads.filter(recorded_at__gte=since - OVERLAP)
    return (
        heads.exclude(Exists(successor))
        .exclude(Exists(recorded))
        .order_by("chain", "seq")
        .values_list("chain", "seq", "id", "hash")
    )


def create_checkpoint(
    *, at: datetime | None = None, chunk_size: int = 2000
) -> AuditCheckpoint | None:
    """Append a checkpoint over every chain head not yet recorded; None if no
    chain grew since the last one. Streams the heads, so memory stays flat
    whatever the number of chains."""
    at = at or timezone.now()
    with transaction.atomic():
        serialize("checkpoint")
        last = AuditCheckpoint.objects.order_by("-seq").first()
        seq = last.seq + 1 if last else 1
        digest = hashlib.sha256()
        count = 0
        batch: list[CheckpointEntry] = []
        heads = _unrecorded_heads(last.at if last else None)
        for chain, head_seq, event_id, event_hash in heads.iterator(chunk_size=chunk_size):
            digest.update(checkpoint_entry_line(chain, head_seq, str(event_id), event_hash))
            batch.append(
                CheckpointEntry(
                    checkpoint_seq=seq,
                    position=count,
                    chain=chain,
                    seq=head_seq,
                    event_id=event_id,
                    hash=event_hash,
                )
            )
            count += 1
            if len(batch) >= chunk_size:
                CheckpointEntry.objects.bulk_create(batch)
                batch = []
        if batch:
            CheckpointEntry.objects.bulk_create(batch)
        if count == 0:
            return None
        checkpoint = AuditCheckpoint(
            seq=seq,
            at=at,
            entry_count=count,
            entries_digest=digest.hexdigest(),
            prev_hash=last.hash if last else GENESIS_HASH,
        )
        checkpoint.hash = checkpoint_hash(
            seq=seq,
            at=at,
            prev_hash=checkpoint.prev_hash,
            entry_count=count,
            entries_digest=checkpoint.entries_digest,
        )
        checkpoint.save()
        return checkpoint


__all__ = ["OVERLAP", "create_checkpoint"]
