"""The append-only, hash-chained audit log.

One row per event. Rows are chained per ``chain`` (``request:<id>`` for a
request's life, ``workflow:<key>`` for publishing, ``archive`` for archive runs)
with a gapless ``seq`` and ``prev_hash``/``hash`` (SHA-256 over a canonical JSON
of the event, see ``audit.hashing``), so any edit, insertion or removal inside a
chain is detectable by ``audit_verify``. There is no foreign key to the request:
the audit outlives deleted requests.

Checkpoints hash every chain head into a chain of their own, so removing a whole
chain is detectable too. Events past the hot window move to gzip files (the cold
tier); ``ArchivedEvent`` keeps each one's hashes and query columns, so verify
and query still cover them.

Nothing in the application updates or deletes these rows: the model and its
queryset refuse it, and on PostgreSQL a trigger does (migration 0003).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models import F
from django.utils import timezone

from .filters import JSONNumber


def time_ordered_uuid(at: datetime | None = None, rnd: random.Random | None = None) -> uuid.UUID:
    """A version 7 UUID (RFC 9562): the Unix time in milliseconds in the first 48 bits,
    then random bits. Events written one after another have neighbouring ids, so each
    insert adds to the same few pages of the primary key's index instead of a random
    one of the whole index (at 17 M events ~700 MB, beyond PostgreSQL's buffers, and
    each page first changed after a checkpoint is written whole to the WAL). Ids stay
    unique (74 random bits within a millisecond) and carry no other meaning: the
    trail's order is ``at``, ``chain`` and ``seq``.

    ``at`` and ``rnd``: the time and the random bits' source of an event written
    earlier (the data generator's history, reproducible from its seed)."""
    ms = time.time_ns() // 1_000_000 if at is None else int(at.timestamp() * 1000)
    bits = int.from_bytes(os.urandom(10), "big") if rnd is None else rnd.getrandbits(80)
    value = ms << 80 | bits
    # Version 7 in bits 76-79, the RFC variant (0b10) in bits 62-63.
    value = value & ~(0xF << 76) | 7 << 76
    value = value & ~(0x3 << 62) | 0x2 << 62
    return uuid.UUID(int=value)


class AppendOnlyError(Exception):
    """Raised by any attempt to change or remove an audit row from the application."""


class AppendOnlyQuerySet(models.QuerySet):
    """A queryset that can read and insert, never update or delete."""

    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")

    def bulk_update(self, objs: Any, fields: Any, batch_size: int | None = None) -> int:
        raise AppendOnlyError(f"{self.model.__name__} rows are append-only")


class AppendOnlyModel(models.Model):
    """Rows are inserted once and never saved again or deleted."""

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


class EventColumns(AppendOnlyModel):
    """The columns an event has in both tiers: hot (``AuditEvent``) and archived
    (``ArchivedEvent``). Kept in one place so the auditors' filters, the union
    query and verify read the two tiers alike."""

    # db_index: time ranges alone ("everything in Q3"), the unfiltered newest-first
    # page, and the archive run's "older than the hot window".
    at = models.DateTimeField(db_index=True)
    chain = models.CharField(max_length=120)
    seq = models.PositiveBigIntegerField()
    request_id = models.BigIntegerField(null=True, blank=True)
    workflow_key = models.CharField(max_length=100, blank=True)
    workflow_version = models.PositiveIntegerField(null=True, blank=True)
    event_type = models.CharField(max_length=60)
    # The acting person: {user, role, on_behalf_of, via}. Usernames, not keys:
    # the record must read the same after people are deleted.
    actor = models.JSONField(default=dict)
    actor_username = models.CharField(max_length=150, blank=True)
    on_behalf_of_username = models.CharField(max_length=150, blank=True)
    # A copy of the request's inputs at the event, for the auditors' questions
    # ("purchase orders over 50,000"); indexed with GIN on PostgreSQL (migration 0003).
    inputs = models.JSONField(default=dict)
    imported = models.BooleanField(default=False)
    prev_hash = models.CharField(max_length=64)
    # Not indexed, and not unique on its own: nothing looks an event up by its hash
    # alone (the archive trigger matches by id, checkpoints and verify by chain and
    # seq), and no two genuine events can share one: it is a SHA-256 over material
    # that includes chain and seq, which are unique together. A row carrying some
    # other event's hash does not match its own material, which audit_verify
    # reports. (The unique index cost every insert a random write; migration 0007.)
    hash = models.CharField(max_length=64)

    class Meta:
        abstract = True


class AuditEvent(EventColumns):
    """One thing that happened, in the hot tier (see the module docstring)."""

    id = models.UUIDField(primary_key=True, default=time_ordered_uuid, editable=False)
    # When the row was written (differs from ``at`` for imported history); the
    # checkpoint looks only at rows written since the previous checkpoint.
    recorded_at = models.DateTimeField(default=timezone.now, db_index=True)
    payload = models.JSONField(default=dict)
    # The request as it stood right after the event (state, step, inputs, tasks).
    snapshot = models.JSONField(default=dict)

    class Meta:
        ordering = ["at", "chain", "seq"]
        constraints = [
            # Gapless, one event per position: two writers on one chain cannot both append.
            models.UniqueConstraint(fields=["chain", "seq"], name="auditevent_chain_seq"),
        ]
        # On PostgreSQL also: GIN on inputs for ?inputs.F=V (migration 0003).
        indexes = [
            # A request's history, in order (request page, replay).
            models.Index(fields=["request_id", "seq"], name="audit_request_seq"),
            # The auditor's questions: per workflow and type over a time range.
            models.Index(fields=["workflow_key", "event_type", "at"], name="audit_wf_type_at"),
            # "Every approval in Q3", whatever the workflow, newest first, and "… with
            # inputs.amount >= 50,000": the amount is an index condition (PostgreSQL
            # matches JSONNumber's very SQL), and (at, seq) the order a page reads in,
            # so a page of 50 stops after 50 index entries (audit.selectors).
            models.Index(
                F("event_type"), F("at"), F("seq"), JSONNumber("amount"),
                name="audit_type_at_seq_amount",
            ),
            # "Everything Bob did", including on behalf of others.
            models.Index(fields=["actor_username", "at"], name="audit_actor_at"),
            models.Index(fields=["on_behalf_of_username", "at"], name="audit_behalf_at"),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.event_type}"


class AuditArchive(AppendOnlyModel):
    """One gzip JSON-lines file of the cold tier and its checksum.

    ``name`` is relative to ``settings.AUDIT_ARCHIVE_DIR``; each line is one
    event's hashed material plus its hash, in (chain, seq) order."""

    name = models.CharField(max_length=255, unique=True)
    sha256 = models.CharField(max_length=64)
    event_count = models.PositiveIntegerField()
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ArchivedEvent(EventColumns):
    """The manifest row of one archived event: its hashes, its place in its file,
    and the query columns, so verify and the auditors' filters cover the cold
    tier without opening files. Payload and snapshot live only in the file."""

    id = models.UUIDField(primary_key=True, editable=False)
    archive = models.ForeignKey(AuditArchive, on_delete=models.PROTECT, related_name="events")
    line = models.PositiveIntegerField()

    class Meta:
        ordering = ["at", "chain", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["chain", "seq"], name="archivedevent_chain_seq"),
            models.UniqueConstraint(fields=["archive", "line"], name="archivedevent_file_line"),
        ]
        indexes = [
            # The same questions as on the hot tier (see AuditEvent).
            models.Index(fields=["request_id", "seq"], name="archived_request_seq"),
            models.Index(fields=["workflow_key", "event_type", "at"], name="archived_wf_type_at"),
            models.Index(
                F("event_type"), F("at"), F("seq"), JSONNumber("amount"),
                name="archived_type_at_seq_amount",
            ),
            models.Index(fields=["actor_username", "at"], name="archived_actor_at"),
            models.Index(fields=["on_behalf_of_username", "at"], name="archived_behalf_at"),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.event_type} (archived)"


class AuditCheckpoint(AppendOnlyModel):
    """A link of the checkpoint chain: a digest over the chain heads that changed
    since the previous checkpoint (``CheckpointEntry`` rows with this ``seq``)."""

    seq = models.PositiveBigIntegerField(unique=True)
    at = models.DateTimeField()
    entry_count = models.PositiveIntegerField()
    entries_digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]

    def __str__(self) -> str:
        return f"checkpoint #{self.seq}"


class CheckpointEntry(AppendOnlyModel):
    """One chain head as a checkpoint saw it. Written before its checkpoint row
    (which carries the digest), so both are inserted once and never updated."""

    checkpoint_seq = models.PositiveBigIntegerField()
    position = models.PositiveIntegerField()
    chain = models.CharField(max_length=120)
    seq = models.PositiveBigIntegerField()
    event_id = models.UUIDField()
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["checkpoint_seq", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["checkpoint_seq", "position"], name="checkpointentry_position"
            ),
        ]
        indexes = [
            # "Was this head already checkpointed?" when the next checkpoint runs.
            models.Index(fields=["chain", "seq"], name="checkpointentry_chain_seq"),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.checkpoint_seq}: {self.chain}#{self.seq}"
