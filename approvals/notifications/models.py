"""The notification outbox, integration webhook subscriptions, used action tokens
and per-person notification preferences."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from .choices import Channel, Kind, OutboxState

_OS = OutboxState


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Outbox(models.Model):
    """One message to deliver: written in the transaction that caused it, delivered
    by a Celery worker after commit. ``dedup_key`` is unique, so writing the same
    message twice inserts once; a worker claims a row with a conditional UPDATE
    that must change exactly one row, so two workers never both send it."""

    # Unique (the constraint outbox_dedup_key below): the insert's ON CONFLICT target.
    dedup_key = models.CharField(max_length=255)
    kind = models.CharField(max_length=30, choices=Kind.choices)
    channel = models.CharField(max_length=10, choices=Channel.choices)
    state = models.CharField(max_length=10, choices=_OS.choices, default=_OS.PENDING)
    # A person for email / Slack / Teams; a subscription for integration webhooks.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="outbox_messages",
        # No index of its own: outbox_recipient_request starts with it and serves the
        # lookups by recipient (a person's deletion, its foreign-key check).
        db_index=False,
    )
    subscription = models.ForeignKey(
        "WebhookSubscription",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
    )
    request = models.ForeignKey(
        "approvals.Request", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task = models.ForeignKey(
        "approvals.Task", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What the message says, as of the moment it was written (a snapshot: retries
    # and webhook redeliveries send the same content).
    payload = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True)
    # Set when this row's content went out inside another row's message.
    collapsed_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="collapsed"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "outbox message"
        indexes = [
            # The re-queue sweep: unfinished rows by state and due time.
            models.Index(
                fields=["state", "next_attempt_at"],
                condition=Q(state__in=["pending", "queued", "sending"]),
                name="outbox_unfinished",
            ),
            # Collapsing: a person's messages about one request on one channel.
            models.Index(
                fields=["recipient", "request", "channel", "state"],
                condition=Q(recipient__isnull=False),
                name="outbox_recipient_request",
            ),
            # The daily digest: held reminders by person.
            models.Index(
                fields=["recipient", "created_at"],
                condition=Q(state="digest"),
                name="outbox_digest",
            ),
        ]
        constraints = [
            # Writing the same message twice inserts it once (INSERT … ON CONFLICT).
            # A named constraint rather than unique=True, which on PostgreSQL adds a
            # varchar_pattern_ops index for LIKE queries that nothing makes.
            models.UniqueConstraint(fields=["dedup_key"], name="outbox_dedup_key"),
            models.CheckConstraint(
                condition=Q(recipient__isnull=False) | Q(subscription__isnull=False),
                name="outbox_has_destination",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} via {self.channel} ({self.state})"


class WebhookSubscription(models.Model):
    """An integration that wants signed HTTP callbacks for some events of some
    workflow (or of every workflow). Managed in the admin."""

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    # Shared with the receiver, which checks X-Approvals-Signature with it.
    secret = models.CharField(max_length=128, default=new_webhook_secret)
    workflow = models.ForeignKey(
        "approvals.Workflow",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
        help_text="Empty: every workflow.",
    )
    events = models.JSONField(
        default=list, blank=True, help_text="Event kinds, e.g. [\"request_finished\"]. Empty: all."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        known = set(Kind.values)
        if not isinstance(self.events, list) or not all(isinstance(e, str) for e in self.events):
            raise ValidationError({"events": "A list of event names."})
        unknown = sorted(set(self.events) - known)
        if unknown:
            raise ValidationError(
                {"events": f"Unknown events {unknown}; known: {sorted(known)}."}
            )

    def wants(self, kind: str) -> bool:
        return not self.events or kind in self.events


class UsedToken(models.Model):
    """A single-use credential that was spent: an action link's nonce, or a Slack
    callback's signature (so a replayed callback is refused)."""

    nonce = models.CharField(max_length=128, unique=True)
    purpose = models.CharField(max_length=20)
    task_id = models.BigIntegerField(null=True, blank=True)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-used_at"]

    def __str__(self) -> str:
        return f"{self.purpose} {self.nonce[:12]}…"


class NotificationPreference(models.Model):
    """How a person wants reminders (channels themselves are Person.notification_channels)."""

    person = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    # Reminders held and sent once a day in one message instead of one by one.
    reminder_digest = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"preferences of {self.person_id}"
