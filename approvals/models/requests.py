"""Requests, their tasks and the decisions on them.

States move only through the django-fsm transitions below (protected fields),
and only the services in ``approvals.services`` call them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django_fsm import FSMField, FSMModelMixin, transition

from approvals.choices import DecisionKind, RequestState, TaskState, Via

from .workflows import Workflow, WorkflowVersion

_RS = RequestState
_TS = TaskState


class RequestQuerySet(models.QuerySet):
    def pending(self) -> RequestQuerySet:
        return self.filter(state=_RS.PENDING)

    def open(self) -> RequestQuerySet:
        return self.filter(state__in=[_RS.PENDING, _RS.CHANGES_REQUESTED])

    def by_requester(self, person) -> RequestQuerySet:
        return self.filter(requester=person)

    def for_entity(self, entity_type: str, entity_id: str) -> RequestQuerySet:
        return self.filter(entity_type=entity_type, entity_id=entity_id)


class Request(FSMModelMixin, models.Model):
    """One run of a workflow version for one requester."""

    # The foreign keys whose column leads a composite index below have no index of their
    # own: every write to these tables pays for each index, and the composite one serves
    # the same lookups (and the checks of a PROTECT or CASCADE delete).
    workflow = models.ForeignKey(
        Workflow, on_delete=models.PROTECT, related_name="requests", db_index=False
    )
    workflow_version = models.ForeignKey(
        WorkflowVersion, on_delete=models.PROTECT, related_name="requests"
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="requests",
        db_index=False,
    )
    # The service account that submitted on the requester's behalf, if any.
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="submitted_requests",
    )
    title = models.CharField(max_length=300, blank=True)
    inputs = models.JSONField(default=dict)
    state = FSMField(default=_RS.CREATED, choices=_RS.choices, protected=True)
    current_step = models.CharField(max_length=100, blank=True)
    # When the current step's first tasks were created: the SLA clock's start.
    step_started_at = models.DateTimeField(null=True, blank=True)
    # 0 for the first submission, +1 on every resubmit; tasks carry their round.
    round = models.PositiveIntegerField(default=0)
    entity_type = models.CharField(max_length=100, blank=True)
    entity_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = RequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # "My requests": the requester's list, newest first.
            models.Index(fields=["requester", "-created_at"], name="request_requester_created"),
            # Integrations find their request again by the object it is about.
            models.Index(fields=["entity_type", "entity_id"], name="request_entity"),
            # Lists filtered by workflow and state (reports, API filters).
            models.Index(fields=["workflow", "state"], name="request_workflow_state"),
            # Lists by state alone. A plain index: ``db_index`` on a text field adds a
            # second one for LIKE patterns, which no query here uses.
            models.Index(fields=["state"], name="request_state"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title or self.workflow.key}"

    @property
    def is_open(self) -> bool:
        return self.state in (_RS.PENDING, _RS.CHANGES_REQUESTED)

    # --- transitions (no I/O: the services do the rest) ---------------------

    @transition(field=state, source=_RS.CREATED, target=_RS.PENDING)
    def start(self) -> None:
        pass

    @transition(field=state, source=[_RS.CREATED, _RS.PENDING], target=_RS.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=state, source=[_RS.CREATED, _RS.PENDING], target=_RS.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=state, source=_RS.PENDING, target=_RS.CHANGES_REQUESTED)
    def send_back(self) -> None:
        pass

    @transition(field=state, source=_RS.CHANGES_REQUESTED, target=_RS.PENDING)
    def resubmit(self) -> None:
        pass

    @transition(field=state, source=[_RS.PENDING, _RS.CHANGES_REQUESTED], target=_RS.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=state, source=_RS.PENDING, target=_RS.EXPIRED)
    def expire(self) -> None:
        pass


class TaskQuerySet(models.QuerySet):
    def open(self) -> TaskQuerySet:
        return self.filter(state=_TS.OPEN)

    def assigned_to(self, person) -> TaskQuerySet:
        return self.filter(assignee=person)

    def due_before(self, moment) -> TaskQuerySet:
        return self.filter(due_at__lt=moment)

    def of_step(self, request: Request, step_id: str) -> TaskQuerySet:
        return self.filter(request=request, step_id=step_id, round=request.round)


# Tasks replaced by another (escalated or delegated) do not count toward quorum:
# their replacement does.
REPLACED_TASK_STATES = (_TS.ESCALATED, _TS.DELEGATED)


class Task(FSMModelMixin, models.Model):
    """One person's part in one step of one request."""

    # Indexed by task_request_step (its first column).
    request = models.ForeignKey(
        Request, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    step_id = models.CharField(max_length=100)
    round = models.PositiveIntegerField(default=0)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks"
    )
    # The person the reference resolved to, when someone else got the task
    # (absent, departed, escalated, delegated): "on behalf of Bob".
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="tasks_on_behalf",
    )
    # Usernames from the person meant to the person assigned: ["bob", "carol", "dave"].
    delegation_chain = models.JSONField(default=list, blank=True)
    # What resolution did and why (rules applied, role picked from, errors routed).
    resolution = models.JSONField(default=dict, blank=True)
    role = models.CharField(max_length=100, blank=True)
    # The task this one replaces (escalation, delegation).
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )
    state = FSMField(default=_TS.OPEN, choices=_TS.choices, protected=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # SLA rungs, absolute times computed from the step's clock. ``sla_next_at`` is the
    # earliest rung not yet acted on; the sweep reads only that.
    due_at = models.DateTimeField(null=True, blank=True)
    remind_at = models.DateTimeField(null=True, blank=True)
    escalate_at = models.DateTimeField(null=True, blank=True)
    auto_action_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    sla_next_at = models.DateTimeField(null=True, blank=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "created_at"]
        indexes = [
            # The inbox: open tasks by assignee, oldest due first (one index scan).
            models.Index(
                fields=["assignee", "due_at", "created_at"],
                condition=Q(state="open"),
                name="task_inbox",
            ),
            # The SLA sweep: open tasks whose next rung is due, by time.
            models.Index(
                fields=["sla_next_at"],
                condition=Q(state="open", sla_next_at__isnull=False),
                name="task_sla_due",
            ),
            # Quorum counting and step closing: the tasks of a step in a round.
            models.Index(fields=["request", "round", "step_id"], name="task_request_step"),
        ]

    def __str__(self) -> str:
        return f"task {self.pk} {self.step_id} → {self.assignee_id}"

    @property
    def is_open(self) -> bool:
        return self.state == _TS.OPEN

    @transition(field=state, source=_TS.OPEN, target=_TS.APPROVED)
    def approve(self) -> None:
        pass

    @transition(field=state, source=_TS.OPEN, target=_TS.REJECTED)
    def reject(self) -> None:
        pass

    @transition(field=state, source=_TS.OPEN, target=_TS.CHANGES_REQUESTED)
    def request_changes(self) -> None:
        pass

    @transition(field=state, source=_TS.OPEN, target=_TS.CANCELLED)
    def cancel(self) -> None:
        pass

    @transition(field=state, source=_TS.OPEN, target=_TS.ESCALATED)
    def escalate(self) -> None:
        pass

    @transition(field=state, source=_TS.OPEN, target=_TS.EXPIRED)
    def expire(self) -> None:
        pass

    @transition(field=state, source=_TS.OPEN, target=_TS.DELEGATED)
    def hand_over(self) -> None:
        pass


class Decision(models.Model):
    """A person's decision on a task. At most one per task, by constraint."""

    # Indexed by the unique constraint decision_one_per_task.
    task = models.ForeignKey(
        Task, on_delete=models.CASCADE, related_name="decisions", db_index=False
    )
    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="decisions")
    decision = models.CharField(max_length=20, choices=DecisionKind.choices)
    comment = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="decisions_on_behalf",
    )
    via = models.CharField(max_length=10, choices=Via.choices, default=Via.WEB)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # A double click, two browser tabs, a Slack button and an email link at
            # once: the database lets exactly one decision in.
            models.UniqueConstraint(fields=["task"], name="decision_one_per_task"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} on task {self.task_id}"


class Comment(models.Model):
    """A message on a request's thread: a question and its answer, no state change."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments"
    )
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"comment {self.pk} on #{self.request_id}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.request_id}/{filename}"


class Attachment(models.Model):
    """Evidence on a request (a quote, an invoice), shown to the approvers."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="attachments")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path)
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return self.filename
