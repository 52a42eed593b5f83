"""The status vocabulary of requests, tasks and decisions, declared once."""

from django.db import models


class RequestState(models.TextChoices):
    CREATED = "created", "Created"  # only inside the transaction that plans the first step
    PENDING = "pending", "Pending"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


FINISHED_REQUEST_STATES = (
    RequestState.APPROVED,
    RequestState.REJECTED,
    RequestState.CANCELLED,
    RequestState.EXPIRED,
)


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CHANGES_REQUESTED = "changes_requested", "Changes requested"
    CANCELLED = "cancelled", "Cancelled"
    ESCALATED = "escalated", "Escalated"
    EXPIRED = "expired", "Expired"
    DELEGATED = "delegated", "Delegated"


class DecisionKind(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"
    REQUEST_CHANGES = "request_changes", "Request changes"


class Via(models.TextChoices):
    """The channel an action came through, recorded on decisions and in the audit trail."""

    WEB = "web", "Web"
    API = "api", "API"
    EMAIL = "email", "Email link"
    SLACK = "slack", "Slack"
    TEAMS = "teams", "Teams"
    CLI = "cli", "Command line"
    SLA = "sla", "SLA"
    SYSTEM = "system", "System"
