"""The vocabulary of notifications: channels, message kinds and outbox states."""

from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Microsoft Teams"
    WEBHOOK = "webhook", "Webhook"


# Channels a person may choose (webhooks belong to integrations, not people).
PERSON_CHANNELS = (Channel.EMAIL, Channel.SLACK, Channel.TEAMS)


class Kind(models.TextChoices):
    TASK_ASSIGNED = "task_assigned", "Task assigned"
    TASK_REMINDER = "task_reminder", "Reminder"
    TASK_ESCALATED = "task_escalated", "Task escalated"
    TASK_REASSIGNED = "task_reassigned", "Task reassigned"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    REQUEST_FINISHED = "request_finished", "Request finished"
    COMMENT_ADDED = "comment_added", "Comment added"
    REMINDER_DIGEST = "reminder_digest", "Daily reminder digest"


# Kinds that ask the recipient to decide a task: their messages carry action buttons.
ACTIONABLE_KINDS = (
    Kind.TASK_ASSIGNED,
    Kind.TASK_REMINDER,
    Kind.TASK_ESCALATED,
    Kind.TASK_REASSIGNED,
)


class OutboxState(models.TextChoices):
    PENDING = "pending", "Pending (not handed to the broker yet)"
    QUEUED = "queued", "Queued (handed to the broker)"
    SENDING = "sending", "Sending (claimed by a worker)"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"
    COLLAPSED = "collapsed", "Collapsed into another message"
    DIGEST = "digest", "Held for the daily digest"


# States a worker may claim a row from.
CLAIMABLE_STATES = (OutboxState.PENDING, OutboxState.QUEUED)
UNFINISHED_STATES = (OutboxState.PENDING, OutboxState.QUEUED, OutboxState.SENDING)
