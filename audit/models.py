"""The append-only, hash-chained audit log.

One row per event. Rows are chained per ``chain`` (``request:<id>`` for a
request's life, ``workflow:<key>`` for publishing) with a gapless ``seq`` and
``prev_hash``/``hash`` (SHA-256 over a canonical JSON of the event), so any
edit, insertion or removal inside a chain is detectable by ``audit_verify``.
There is no foreign key to the request: the audit outlives deleted requests.
"""

from __future__ import annotations

import uuid

from django.db import models


class AuditEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
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
    payload = models.JSONField(default=dict)
    # The request as it stood right after the event (state, step, inputs, tasks).
    snapshot = models.JSONField(default=dict)
    # A copy of the request's inputs at the event, for the auditors' questions
    # ("purchase orders over 50,000"); indexed with GIN on PostgreSQL.
    inputs = models.JSONField(default=dict)
    imported = models.BooleanField(default=False)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["at", "chain", "seq"]
        constraints = [
            # Gapless, one event per position: two writers on one chain cannot both append.
            models.UniqueConstraint(fields=["chain", "seq"], name="auditevent_chain_seq"),
        ]
        indexes = [
            # A request's history, in order (request page, replay).
            models.Index(fields=["request_id", "seq"], name="audit_request_seq"),
            # The auditor's questions: per workflow and type over a time range.
            models.Index(fields=["workflow_key", "event_type", "at"], name="audit_wf_type_at"),
            # "Everything Bob did", including on behalf of others.
            models.Index(fields=["actor_username", "at"], name="audit_actor_at"),
            models.Index(fields=["on_behalf_of_username", "at"], name="audit_behalf_at"),
        ]

    def __str__(self) -> str:
        return f"{self.chain}#{self.seq} {self.event_type}"
