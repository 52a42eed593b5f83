"""Requests: submit, list, read, comment, attach, cancel, resubmit."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request as DRFRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import selectors, services
from approvals.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from approvals.api.permissions import may_submit_on_behalf
from approvals.api.serializers import (
    AttachmentInputSerializer,
    AttachmentSerializer,
    CancelSerializer,
    CommentInputSerializer,
    CommentSerializer,
    RequestDetailRows,
    RequestDetailSerializer,
    RequestSerializer,
    ResubmitSerializer,
    SubmitSerializer,
)
from approvals.choices import Via
from approvals.errors import NotAllowed
from approvals.filters import RequestFilter
from approvals.models import Attachment, Comment, Request, Task, Workflow
from audit.models import AuditEvent
from config.prepared import Prepared
from orgchart.models import Person

from .base import Pagination, errors, id_parameter, parse_id

TAGS = ["requests"]


def _tasks_prefetch() -> Prefetch:
    return Prefetch("tasks", queryset=Task.objects.select_related("assignee", "on_behalf_of"))


def request_payload(request: Request | int, *, new: bool = False) -> dict[str, Any]:
    """The full representation of one request: tasks, history, comments, attachments.
    The caller has already been shown to see it (or has just created it). Given the
    Request a service has just returned (its workflow, version and people loaded,
    its fields as saved), it is not read again; ``new``: it was created by that
    service call, so it has no comment or file to look for.

    Its tasks, history, comments and files are values() rows of prepared reads
    (config/prepared.py: compiled once per process, on PostgreSQL prepared once per
    connection), written by RequestDetailRows: building and compiling four querysets
    and RequestDetailSerializer's fields cost ~5 ms of CPU on every decision."""
    if isinstance(request, Request):
        obj = request
    else:
        obj = Request.objects.select_related(
            "workflow", "workflow_version", "requester", "submitted_by"
        ).get(pk=request)
    return RequestDetailRows().data(
        obj,
        tasks=_TASKS.rows(None, request_id=obj.pk),
        # Only what the history shows (snapshots and inputs are the bulk of an event).
        history=_HISTORY.rows(None, request_id=obj.pk),
        comments=[] if new else _COMMENTS.rows(None, request_id=obj.pk),
        attachments=[] if new else _ATTACHMENTS.rows(None, request_id=obj.pk),
    )


def _tasks_query(shape: None, *, request_id: int) -> QuerySet[Task]:
    # The model's ordering, as the tasks prefetch used.
    return Task.objects.filter(request_id=request_id).values(*RequestDetailRows.TASK_COLUMNS)


def _history_query(shape: None, *, request_id: int) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(request_id=request_id)
        .order_by("seq")
        .values(*RequestDetailRows.HISTORY_COLUMNS)
    )


def _comments_query(shape: None, *, request_id: int) -> QuerySet[Comment]:
    return Comment.objects.filter(request_id=request_id).values(
        *RequestDetailRows.COMMENT_COLUMNS
    )


def _attachments_query(shape: None, *, request_id: int) -> QuerySet[Attachment]:
    return Attachment.objects.filter(request_id=request_id).values(
        *RequestDetailRows.ATTACHMENT_COLUMNS
    )


_TASKS = Prepared(_tasks_query)
_HISTORY = Prepared(_history_query)
_COMMENTS = Prepared(_comments_query)
_ATTACHMENTS = Prepared(_attachments_query)


def workflow_key_for_event(event: str) -> str:
    """The active workflow whose latest version lists ``event`` in its triggers."""
    keys = [
        workflow.key
        for workflow in Workflow.objects.filter(
            is_active=True, latest_version__isnull=False
        ).select_related("latest_version")
        if event in (workflow.latest_version.triggers or [])
    ]
    if len(keys) != 1:
        problem = (
            "No active workflow is triggered by this event."
            if not keys
            else (f"The event starts several workflows ({', '.join(sorted(keys))}).")
        )
        raise ValidationError({"event": [problem]})
    return keys[0]


def _person(username: str, field: str) -> Person:
    person = Person.objects.filter(username=username).first()
    if person is None:
        raise ValidationError({field: [f"No person with the username {username!r}."]})
    return person


class RequestListCreateView(generics.ListAPIView):
    serializer_class = RequestSerializer
    filterset_class = RequestFilter
    pagination_class = Pagination

    def get_queryset(self) -> QuerySet[Request]:
        return (
            selectors.requests_visible_to(self.request.user)
            .select_related("workflow", "workflow_version", "requester", "submitted_by")
            .prefetch_related(_tasks_prefetch())
            .order_by("-created_at", "-pk")
        )

    @extend_schema(
        tags=TAGS,
        summary="The requests the caller may see",
        responses={200: RequestSerializer(many=True), **errors(400, 401, 404)},
    )
    def get(self, request: DRFRequest, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        summary="Submit a request",
        description=(
            "Give `workflow` (a key) or `event` (a trigger name of an active workflow). "
            "A service account holding `approvals_api.submit_on_behalf` may name another "
            "`requester`; the audit trail records both."
        ),
        request=SubmitSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={201: RequestDetailSerializer, **errors(400, 401, 403, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, *args: Any, **kwargs: Any) -> Response:
        body = SubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        caller = request.user
        requester, submitted_by = caller, None
        if data.get("requester") and data["requester"] != caller.username:
            if not may_submit_on_behalf(caller):
                raise NotAllowed(
                    "Only a service account holding approvals_api.submit_on_behalf may "
                    "submit on behalf of another person.",
                    code="not_allowed_on_behalf",
                )
            requester, submitted_by = _person(data["requester"], "requester"), caller
        workflow_key = data.get("workflow") or workflow_key_for_event(data["event"])
        created = services.submit(
            workflow_key=workflow_key,
            requester=requester,
            inputs=data["inputs"],
            title=data["title"],
            entity_type=data["entity_type"],
            entity_id=data["entity_id"],
            submitted_by=submitted_by,
            via=Via.API,
        )
        return Response(request_payload(created, new=True), status=status.HTTP_201_CREATED)


class RequestDetailView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="One request, with its tasks and history",
        parameters=[id_parameter("Request id")],
        responses={200: RequestDetailSerializer, **errors(401, 404)},
    )
    def get(self, request: DRFRequest, id: str) -> Response:
        found = selectors.request_for(request.user, parse_id(id, "request"))
        return Response(request_payload(found.pk))


class RequestCommentsView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Comment on a request (no state change)",
        request=CommentInputSerializer,
        parameters=[id_parameter("Request id"), IDEMPOTENCY_KEY_PARAMETER],
        responses={201: CommentSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, id: str) -> Response:
        found = selectors.request_for(request.user, parse_id(id, "request"))
        body = CommentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        comment = services.add_comment(
            request_id=found.pk, author=request.user, text=body.validated_data["text"], via=Via.API
        )
        return Response(CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


class RequestAttachmentsView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=TAGS,
        summary="Attach a file (multipart, field `file`)",
        description="Size and type limits apply (settings.APPROVALS); 400 beyond them.",
        request={"multipart/form-data": AttachmentInputSerializer},
        parameters=[id_parameter("Request id"), IDEMPOTENCY_KEY_PARAMETER],
        responses={201: AttachmentSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, id: str) -> Response:
        found = selectors.request_for(request.user, parse_id(id, "request"))
        body = AttachmentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        attachment = services.add_attachment(
            request_id=found.pk,
            author=request.user,
            uploaded=body.validated_data["file"],
            via=Via.API,
        )
        return Response(AttachmentSerializer(attachment).data, status=status.HTTP_201_CREATED)


class RequestCancelView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Cancel a request (requester only, while pending or sent back)",
        request=CancelSerializer,
        parameters=[id_parameter("Request id"), IDEMPOTENCY_KEY_PARAMETER],
        responses={200: RequestDetailSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, id: str) -> Response:
        found = selectors.request_for(request.user, parse_id(id, "request"))
        body = CancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.cancel(
            request_id=found.pk,
            actor=request.user,
            comment=body.validated_data["comment"],
            via=Via.API,
        )
        return Response(request_payload(found.pk))


class RequestResubmitView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Resubmit a request sent back for changes (requester only)",
        request=ResubmitSerializer,
        parameters=[id_parameter("Request id"), IDEMPOTENCY_KEY_PARAMETER],
        responses={200: RequestDetailSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, id: str) -> Response:
        found = selectors.request_for(request.user, parse_id(id, "request"))
        body = ResubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.resubmit(
            request_id=found.pk,
            actor=request.user,
            inputs=body.validated_data["inputs"],
            via=Via.API,
        )
        return Response(request_payload(found.pk))
