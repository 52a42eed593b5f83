"""Request bodies and responses of the API (API.md is the contract for field names).

Output serializers read objects the selectors returned, with their relations
already joined (see the views' querysets). Input serializers only check shapes
and sizes; the services decide everything else.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from approvals.choices import DecisionKind
from approvals.models import Attachment, Comment, Request, Task, Workflow, WorkflowVersion

MAX_ID = 2**63 - 1
# Documentation types of method fields that may be null.
NULLABLE_TEXT = serializers.CharField(allow_null=True)
NULLABLE_INT = serializers.IntegerField(allow_null=True)
MAX_COMMENT = 10_000


class TextField(serializers.CharField):
    """A CharField that refuses numbers, booleans and lists instead of turning them
    into text: a wrong type is a 400, not a surprise."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _username(person: Any) -> str | None:
    return person.username if person is not None else None


# --- errors (documentation of the error shapes; {"detail", "code"} is config.api_errors) -


class FieldErrorsSerializer(serializers.Serializer):
    """DRF field errors: ``{"field": ["message"]}`` (nested for ``inputs``)."""

    class Meta:
        # Any field name may appear; documented as a free-form object.
        ref_name = "FieldErrors"

    def to_representation(self, instance: Any) -> Any:
        return instance


class RecipeFaultSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="Where: steps[2].quorum ('' for the whole recipe).")
    line = serializers.IntegerField(required=False, help_text="Line in the YAML, when known.")
    message = serializers.CharField()


class RecipeErrorsSerializer(serializers.Serializer):
    errors = RecipeFaultSerializer(many=True)


# --- tasks ---------------------------------------------------------------------------


class TaskSerializer(serializers.ModelSerializer):
    request = serializers.IntegerField(source="request_id", read_only=True)
    step = serializers.CharField(source="step_id", read_only=True)
    assignee = serializers.SerializerMethodField()
    on_behalf_of = serializers.SerializerMethodField()
    delegation_chain = serializers.ListField(child=serializers.CharField(), read_only=True)
    workflow = serializers.SerializerMethodField()
    request_title = serializers.SerializerMethodField()
    requester = serializers.SerializerMethodField()

    class Meta:
        model = Task
        fields = [
            "id", "request", "request_title", "workflow", "requester", "step", "round",
            "state", "assignee", "on_behalf_of", "delegation_chain", "role",
            "due_at", "created_at", "decided_at",
        ]
        read_only_fields = fields

    def get_assignee(self, task: Task) -> str:
        return task.assignee.username

    @extend_schema_field(NULLABLE_TEXT)
    def get_on_behalf_of(self, task: Task) -> str | None:
        return _username(task.on_behalf_of)

    def get_workflow(self, task: Task) -> str:
        return task.request.workflow.key

    def get_request_title(self, task: Task) -> str:
        return task.request.title

    def get_requester(self, task: Task) -> str:
        return task.request.requester.username


class TaskListSerializer(serializers.BaseSerializer):
    """The task list's rows, read with ``values(*TaskListSerializer.columns)``: the same
    JSON as :class:`TaskSerializer` (the schema still documents that one), without a
    model instance and a field object per row and column, which made the inbox API
    cost about 0.2 ms per task. tests/api pins the two to the same output."""

    columns = (
        "id", "request_id", "request__title", "request__workflow__key",
        "request__requester__username", "step_id", "round", "state", "assignee__username",
        "on_behalf_of__username", "delegation_chain", "role", "due_at", "created_at",
        "decided_at",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # DRF's own datetime output (time zone, "Z"), with the current zone looked up
        # once per response instead of once per value.
        self.datetime = serializers.DateTimeField(default_timezone=timezone.get_current_timezone())

    def to_representation(self, row: dict[str, Any]) -> dict[str, Any]:
        task = task_json(row, self.datetime.to_representation)
        return {
            "id": task.pop("id"),
            "request": task.pop("request"),
            "request_title": row["request__title"],
            "workflow": row["request__workflow__key"],
            "requester": row["request__requester__username"],
            **task,
        }


def task_json(row: dict[str, Any], when: Any) -> dict[str, Any]:
    """RequestTaskSerializer's JSON of a task's values() row (``RequestDetailRows.
    TASK_COLUMNS``, which ``TaskListSerializer.columns`` include); ``when``: DRF's
    DateTimeField output. The task list adds the request's title, workflow and
    requester to it."""
    chain = row["delegation_chain"]
    return {
        "id": row["id"],
        "request": row["request_id"],
        "step": row["step_id"],
        "round": row["round"],
        "state": row["state"],
        "assignee": row["assignee__username"],
        "on_behalf_of": row["on_behalf_of__username"],
        "delegation_chain": None if chain is None else [
            None if name is None else str(name) for name in chain
        ],
        "role": row["role"],
        "due_at": when(row["due_at"]),
        "created_at": when(row["created_at"]),
        "decided_at": when(row["decided_at"]),
    }


def task_row(task: Task) -> dict[str, Any]:
    """A task with its request, workflow and people loaded (as a service returns it), as
    the row :class:`TaskListSerializer` reads: TaskSerializer's JSON without building
    TaskSerializer's fields (~0.5 ms of CPU a call)."""
    request = task.request
    return {
        "id": task.pk,
        "request_id": task.request_id,
        "request__title": request.title,
        "request__workflow__key": request.workflow.key,
        "request__requester__username": request.requester.username,
        "step_id": task.step_id,
        "round": task.round,
        "state": str(task.state),  # a TaskState member after a transition: its value
        "assignee__username": task.assignee.username,
        "on_behalf_of__username": _username(task.on_behalf_of),
        "delegation_chain": task.delegation_chain,
        "role": task.role,
        "due_at": task.due_at,
        "created_at": task.created_at,
        "decided_at": task.decided_at,
    }


# --- requests ------------------------------------------------------------------------


class RequestTaskSerializer(TaskSerializer):
    """A task inside its request (the request's fields are not repeated)."""

    class Meta(TaskSerializer.Meta):
        fields = [
            "id", "request", "step", "round", "state", "assignee", "on_behalf_of",
            "delegation_chain", "role", "due_at", "created_at", "decided_at",
        ]
        read_only_fields = fields


class HistoryEventSerializer(serializers.Serializer):
    id = serializers.CharField()
    seq = serializers.IntegerField()
    type = serializers.CharField(source="event_type")
    at = serializers.DateTimeField()
    actor = serializers.JSONField(help_text="{user, role, on_behalf_of, via}")
    payload = serializers.JSONField()


class CommentSerializer(serializers.ModelSerializer):
    request = serializers.IntegerField(source="request_id", read_only=True)
    author = serializers.CharField(source="author.username", read_only=True)

    class Meta:
        model = Comment
        fields = ["id", "request", "author", "text", "created_at"]
        read_only_fields = fields


class AttachmentSerializer(serializers.ModelSerializer):
    request = serializers.IntegerField(source="request_id", read_only=True)
    uploaded_by = serializers.CharField(source="uploaded_by.username", read_only=True)

    class Meta:
        model = Attachment
        fields = [
            "id", "request", "filename", "content_type", "size", "sha256", "uploaded_by",
            "created_at",
        ]
        read_only_fields = fields


class RequestSerializer(serializers.ModelSerializer):
    """A request as lists show it: with its tasks, without its history."""

    workflow = serializers.CharField(source="workflow.key", read_only=True)
    workflow_version = serializers.IntegerField(source="workflow_version.number", read_only=True)
    requester = serializers.CharField(source="requester.username", read_only=True)
    submitted_by = serializers.SerializerMethodField()
    current_step = serializers.SerializerMethodField()
    inputs = serializers.JSONField(read_only=True)
    tasks = RequestTaskSerializer(many=True, read_only=True)

    class Meta:
        model = Request
        fields = [
            "id", "workflow", "workflow_version", "title", "state", "requester",
            "submitted_by", "inputs", "entity_type", "entity_id", "current_step", "round",
            "created_at", "updated_at", "decided_at", "tasks",
        ]
        read_only_fields = fields

    @extend_schema_field(NULLABLE_TEXT)
    def get_submitted_by(self, request: Request) -> str | None:
        return _username(request.submitted_by)

    @extend_schema_field(NULLABLE_TEXT)
    def get_current_step(self, request: Request) -> str | None:
        return request.current_step or None


class RequestDetailSerializer(RequestSerializer):
    """One request with its history (audit events, oldest first), comments and files.
    The view passes the events in the context: the audit log has no foreign key."""

    history = serializers.SerializerMethodField()
    comments = CommentSerializer(many=True, read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)

    class Meta(RequestSerializer.Meta):
        fields = [*RequestSerializer.Meta.fields, "history", "comments", "attachments"]
        read_only_fields = fields

    @extend_schema_field(HistoryEventSerializer(many=True))
    def get_history(self, request: Request) -> list[dict[str, Any]]:
        events = self.context.get("history", {}).get(request.pk, [])
        return HistoryEventSerializer(events, many=True).data


class RequestDetailRows:
    """:class:`RequestDetailSerializer`'s JSON, written from the request (a model instance
    with its workflow, version and people loaded) and values() rows of its tasks,
    history, comments and files, read with ``*_COLUMNS`` in the serializers' orders.

    Every decision, submit and request read answers with this document; the serializer
    built a field object per field and nested serializer on every call (~1.5 ms of CPU,
    more than the reads). Each value goes through what that serializer's field would do
    (``str`` for text, ``int`` for numbers, DRF's DateTimeField for times, JSON as it
    is, None as None); tests/api pins the two to the same output."""

    TASK_COLUMNS = (
        "id", "request_id", "step_id", "round", "state", "assignee__username",
        "on_behalf_of__username", "delegation_chain", "role", "due_at", "created_at",
        "decided_at",
    )
    HISTORY_COLUMNS = ("id", "seq", "event_type", "at", "actor", "payload")
    COMMENT_COLUMNS = ("id", "request_id", "author__username", "text", "created_at")
    ATTACHMENT_COLUMNS = (
        "id", "request_id", "filename", "content_type", "size", "sha256",
        "uploaded_by__username", "created_at",
    )

    def __init__(self) -> None:
        # DRF's own datetime output (time zone, "Z"), the current zone looked up once.
        self.datetime = serializers.DateTimeField(
            default_timezone=timezone.get_current_timezone()
        ).to_representation

    def data(
        self,
        request: Request,
        *,
        tasks: list[dict[str, Any]],
        history: list[dict[str, Any]],
        comments: list[dict[str, Any]],
        attachments: list[dict[str, Any]],
    ) -> dict[str, Any]:
        when = self.datetime
        return {
            "id": int(request.pk),
            "workflow": _text(request.workflow.key),
            "workflow_version": int(request.workflow_version.number),
            "title": _text(request.title),
            "state": _text(request.state),
            "requester": _text(request.requester.username),
            "submitted_by": _username(request.submitted_by),
            "inputs": request.inputs,
            "entity_type": _text(request.entity_type),
            "entity_id": _text(request.entity_id),
            "current_step": request.current_step or None,
            "round": int(request.round),
            "created_at": when(request.created_at),
            "updated_at": when(request.updated_at),
            "decided_at": when(request.decided_at),
            "tasks": [task_json(row, when) for row in tasks],
            "history": [
                {
                    "id": _text(row["id"]),
                    "seq": _int(row["seq"]),
                    "type": _text(row["event_type"]),
                    "at": when(row["at"]),
                    "actor": row["actor"],
                    "payload": row["payload"],
                }
                for row in history
            ],
            "comments": [
                {
                    "id": row["id"],
                    "request": row["request_id"],
                    "author": _text(row["author__username"]),
                    "text": _text(row["text"]),
                    "created_at": when(row["created_at"]),
                }
                for row in comments
            ],
            "attachments": [
                {
                    "id": row["id"],
                    "request": row["request_id"],
                    "filename": _text(row["filename"]),
                    "content_type": _text(row["content_type"]),
                    "size": _int(row["size"]),
                    "sha256": _text(row["sha256"]),
                    "uploaded_by": _text(row["uploaded_by__username"]),
                    "created_at": when(row["created_at"]),
                }
                for row in attachments
            ],
        }


def _text(value: Any) -> str | None:
    """A CharField's output: None stays None, anything else is ``str``."""
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


class SubmitSerializer(serializers.Serializer):
    workflow = TextField(
        required=False, max_length=100, help_text="Workflow key (or give `event`)."
    )
    event = TextField(
        required=False, max_length=200,
        help_text="An event name listed in a workflow's `triggers`, instead of `workflow`.",
    )
    inputs = serializers.DictField(required=False, default=dict)
    title = TextField(required=False, allow_blank=True, max_length=300, default="")
    entity_type = TextField(
        required=False, allow_blank=True, max_length=100, default=""
    )
    entity_id = TextField(required=False, allow_blank=True, max_length=200, default="")
    requester = TextField(
        required=False, max_length=150,
        help_text="Submit on behalf of this person: service accounts holding "
        "`approvals_api.submit_on_behalf` only.",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if bool(attrs.get("workflow")) == bool(attrs.get("event")):
            raise serializers.ValidationError(
                {"workflow": ["Give either `workflow` or `event`, not both and not neither."]}
            )
        return attrs


class CommentInputSerializer(serializers.Serializer):
    text = TextField(max_length=MAX_COMMENT)


class AttachmentInputSerializer(serializers.Serializer):
    file = serializers.FileField(max_length=255, allow_empty_file=False)


class CancelSerializer(serializers.Serializer):
    comment = TextField(
        required=False, allow_blank=True, max_length=MAX_COMMENT, default=""
    )


class ResubmitSerializer(serializers.Serializer):
    inputs = serializers.DictField()


# --- decisions ---------------------------------------------------------------------


class DecisionInputSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=DecisionKind.choices)
    comment = TextField(
        required=False, allow_blank=True, max_length=MAX_COMMENT, default="",
        help_text="Required to reject or request changes.",
    )


class DecisionResultSerializer(serializers.Serializer):
    task = TaskSerializer()
    request = RequestDetailSerializer()


class DelegateInputSerializer(serializers.Serializer):
    to = TextField(max_length=150, help_text="Username of the new assignee.")
    comment = TextField(
        required=False, allow_blank=True, max_length=MAX_COMMENT, default=""
    )


class BulkDecisionInputSerializer(serializers.Serializer):
    tasks = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        allow_empty=False, max_length=200,
    )
    decision = serializers.ChoiceField(choices=DecisionKind.choices)
    comment = TextField(
        required=False, allow_blank=True, max_length=MAX_COMMENT, default=""
    )


class BulkResultSerializer(serializers.Serializer):
    task = serializers.IntegerField()
    ok = serializers.BooleanField()
    status = serializers.IntegerField(help_text="The HTTP status this task alone would get.")
    detail = serializers.CharField()
    code = serializers.CharField(required=False)


class BulkDecisionResultSerializer(serializers.Serializer):
    results = BulkResultSerializer(many=True)


# --- workflows ---------------------------------------------------------------------


class WorkflowVersionSerializer(serializers.ModelSerializer):
    published_by = serializers.SerializerMethodField()

    class Meta:
        model = WorkflowVersion
        fields = ["number", "content_hash", "triggers", "published_by", "published_at"]
        read_only_fields = fields

    @extend_schema_field(NULLABLE_TEXT)
    def get_published_by(self, version: WorkflowVersion) -> str | None:
        return _username(version.published_by)


class WorkflowSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()
    triggers = serializers.SerializerMethodField()

    class Meta:
        model = Workflow
        fields = ["key", "title", "description", "is_active", "latest_version", "triggers"]
        read_only_fields = fields

    @extend_schema_field(NULLABLE_INT)
    def get_latest_version(self, workflow: Workflow) -> int | None:
        latest = workflow.latest_version
        return latest.number if latest else None

    def get_triggers(self, workflow: Workflow) -> list[str]:
        latest = workflow.latest_version
        return list(latest.triggers) if latest else []


class WorkflowDetailSerializer(WorkflowSerializer):
    versions = WorkflowVersionSerializer(many=True, read_only=True)
    recipe = serializers.SerializerMethodField(help_text="The latest version's source text.")

    class Meta(WorkflowSerializer.Meta):
        fields = [*WorkflowSerializer.Meta.fields, "versions", "recipe"]
        read_only_fields = fields

    @extend_schema_field(NULLABLE_TEXT)
    def get_recipe(self, workflow: Workflow) -> str | None:
        latest = workflow.latest_version
        return latest.source if latest else None


class PublishResultSerializer(serializers.Serializer):
    workflow = serializers.CharField()
    version = serializers.IntegerField()
    created = serializers.BooleanField(help_text="False when identical content was published.")


class SimulateInputSerializer(serializers.Serializer):
    inputs = serializers.DictField(required=False, default=dict)
    requester = TextField(max_length=150)
    at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class PlannedAssigneeSerializer(serializers.Serializer):
    username = serializers.CharField()
    on_behalf_of = serializers.CharField(allow_null=True)
    chain = serializers.ListField(child=serializers.CharField())


class PlannedStepSerializer(serializers.Serializer):
    id = serializers.CharField()
    skipped = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)
    assignees = PlannedAssigneeSerializer(many=True)


class SimulationSerializer(serializers.Serializer):
    workflow = serializers.CharField()
    version = serializers.IntegerField()
    steps = PlannedStepSerializer(many=True)
