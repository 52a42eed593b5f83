"""Tasks: the inbox, one task, decisions (one or many), delegation."""

from __future__ import annotations

from typing import Any

from django.core.paginator import Page
from django.core.paginator import Paginator as DjangoPaginator
from django.db.models import Count, F, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request as DRFRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import selectors, services
from approvals.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from approvals.api.serializers import (
    BulkDecisionInputSerializer,
    BulkDecisionResultSerializer,
    DecisionInputSerializer,
    DecisionResultSerializer,
    DelegateInputSerializer,
    TaskListSerializer,
    TaskSerializer,
    task_row,
)
from approvals.choices import TaskState, Via
from approvals.errors import ApprovalError, NotFound
from approvals.filters import TaskFilter
from approvals.models import Task
from config.prepared import Prepared
from orgchart.models import Person

from .base import Pagination, errors, id_parameter, parse_id
from .requests import request_payload

TAGS = ["tasks"]
_JOINED = ("request", "request__workflow", "request__requester", "assignee", "on_behalf_of")


def visible_task(person: Any, task_id: object) -> Task:
    """One task of a request the person may see, or 404."""
    task = (
        selectors.tasks_visible_to(person)
        .select_related(*_JOINED)
        .filter(pk=parse_id(task_id, "task"))
        .first()
    )
    if task is None:
        raise NotFound("No such task.")
    return task


def _task_data(task_id: int) -> dict[str, Any]:
    return TaskSerializer(Task.objects.select_related(*_JOINED).get(pk=task_id)).data


class _TaskRowsPaginator(DjangoPaginator):
    """Counts the tasks as filtered, then reads the page it returns as values() rows for
    TaskListSerializer (a COUNT of the values() queryset would join every table its
    columns come from)."""

    def _get_page(self, object_list: Any, number: int, paginator: Any) -> Page:
        if isinstance(object_list, list):  # already rows (_InboxRows)
            return super()._get_page(object_list, number, paginator)
        return super()._get_page(
            object_list.values(*TaskListSerializer.columns), number, paginator
        )


class _InboxRows:
    """The caller's open tasks when no filter is given, for the paginator: the count and
    a page of TaskListSerializer's values() rows, each read with a prepared query
    (config/prepared.py), as the inbox page reads its rows."""

    def __init__(self, person: Any, page_size: int) -> None:
        self.person_id = person.pk
        self.page_size = page_size

    def count(self) -> int:
        groups = _INBOX_COUNT.rows(None, person_id=self.person_id)
        return groups[0]["n"] if groups else 0

    def __getitem__(self, rows: slice) -> list[dict[str, Any]]:
        if rows.stop <= rows.start:
            return []
        page = _INBOX_ROWS.rows((rows.start, self.page_size), person_id=self.person_id)
        return page[: rows.stop - rows.start]


def _inbox_count_query(shape: None, *, person_id: int) -> QuerySet[Task]:
    # One group (the caller's) or none: a COUNT on the task table alone, like the
    # paginator's own count of inbox_for.
    return (
        Task.objects.filter(assignee_id=person_id, state=TaskState.OPEN)
        .values("assignee_id").annotate(n=Count("pk")).order_by()
    )


def _inbox_rows_query(shape: tuple[int, int], *, person_id: int) -> QuerySet[Task]:
    start, size = shape
    return selectors.inbox_for(Person(pk=person_id)).values(
        *TaskListSerializer.columns
    )[start : start + size]


_INBOX_COUNT = Prepared(_inbox_count_query)
_INBOX_ROWS = Prepared(_inbox_rows_query)


class _TaskPagination(Pagination):
    django_paginator_class = _TaskRowsPaginator


class TaskListView(generics.ListAPIView):
    serializer_class = TaskSerializer  # the documented shape; list() writes it from values()
    filterset_class = TaskFilter
    pagination_class = _TaskPagination

    def get_queryset(self) -> QuerySet[Task]:
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Task.objects.none()
        person = self.request.user
        wants_inbox = TaskFilter.asks_for_inbox(self.request.query_params)
        # The hot path is the inbox selector (one indexed query); anything wider is
        # limited to the requests the caller may see.
        base = selectors.inbox_for(person) if wants_inbox else selectors.tasks_visible_to(person)
        return base.order_by(F("due_at").asc(nulls_last=True), "created_at", "pk")

    def _no_filter(self) -> bool:
        """No filter parameter given (the inbox as most callers ask for it): the
        filterset's defaults (state=open, assignee=me) select exactly ``inbox_for``,
        and nothing can be invalid, so ``list`` reads the inbox without building the
        filterset (a form built, validated and applied: ~1 ms of CPU a call)."""
        params = self.request.query_params
        return not any(name in params for name in TaskFilter.base_filters)

    def list(self, request: DRFRequest, *args: Any, **kwargs: Any) -> Response:
        """ListModelMixin.list, with the page read as values() rows and written by the
        lean TaskListSerializer (the same JSON as TaskSerializer)."""
        page_size = self.paginator.get_page_size(request)
        if self._no_filter() and page_size:
            # The hot path: the caller's inbox, read with prepared queries.
            page = self.paginate_queryset(_InboxRows(request.user, page_size))
            return self.get_paginated_response(TaskListSerializer(page, many=True).data)
        tasks = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(tasks)
        if page is None:
            return Response(TaskListSerializer(tasks.values(*TaskListSerializer.columns),
                                               many=True).data)
        return self.get_paginated_response(TaskListSerializer(page, many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="The caller's inbox (open tasks, oldest due first)",
        description="Defaults: `state=open`, `assignee=me`. `state=all`, `assignee=all` or a "
        "username widen the list, within the requests the caller may see.",
        responses={200: TaskSerializer(many=True), **errors(400, 401, 404)},
    )
    def get(self, request: DRFRequest, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class TaskDetailView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="One task",
        parameters=[id_parameter("Task id")],
        responses={200: TaskSerializer, **errors(401, 404)},
    )
    def get(self, request: DRFRequest, id: str) -> Response:
        return Response(TaskSerializer(visible_task(request.user, id)).data)


class TaskDecisionView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Decide a task (assignee only)",
        description="`reject` and `request_changes` need a comment. 409 if the task is "
        "already decided or closed.",
        request=DecisionInputSerializer,
        parameters=[id_parameter("Task id"), IDEMPOTENCY_KEY_PARAMETER],
        responses={200: DecisionResultSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, id: str) -> Response:
        task_id = _decidable_task_id(request.user, id)
        body = DecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decided = services.decide(
            task_id=task_id,
            actor=request.user,
            decision=body.validated_data["decision"],
            comment=body.validated_data["comment"],
            via=Via.API,
        )
        # The service returns the task as saved, with its request, workflow and people
        # loaded: neither is read again (TaskSerializer's JSON, written from its row).
        return Response(
            {"task": TaskListSerializer(task_row(decided)).data,
             "request": request_payload(decided.request)}
        )


def _decidable_task_id(person: Any, task_id: object) -> int:
    """The id of a task the caller may see, or 404. Its assignee takes part in the
    request and so sees it (selectors.participates): one indexed lookup then, the
    whole visibility rule only for anyone else (who gets 403 from the service)."""
    pk = parse_id(task_id, "task")
    if _ASSIGNED.rows(None, task_id=pk, person_id=person.pk):
        return pk
    return visible_task(person, pk).pk


def _assigned_query(shape: None, *, task_id: int, person_id: int) -> QuerySet[Task]:
    # exists(), prepared (config/prepared.py): a row if the task is the person's.
    return Task.objects.filter(pk=task_id, assignee_id=person_id).values("pk").order_by()[:1]


_ASSIGNED = Prepared(_assigned_query)


class TaskDelegateView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Delegate a task to another person; returns the new task",
        request=DelegateInputSerializer,
        parameters=[id_parameter("Task id"), IDEMPOTENCY_KEY_PARAMETER],
        responses={200: TaskSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, id: str) -> Response:
        task = visible_task(request.user, id)
        body = DelegateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        to = Person.objects.filter(username=body.validated_data["to"]).first()
        if to is None:
            raise ValidationError({"to": ["No person with this username."]})
        new = services.delegate(
            task_id=task.pk,
            actor=request.user,
            to=to,
            comment=body.validated_data["comment"],
            via=Via.API,
        )
        return Response(_task_data(new.pk))


class TaskBulkDecisionView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Decide several tasks; one result per task",
        description="Each task is decided in its own transaction: one failing never fails "
        "the others. `status` is what that task alone would have answered.",
        request=BulkDecisionInputSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: BulkDecisionResultSerializer, **errors(400, 401, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest) -> Response:
        body = BulkDecisionInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        ids = list(dict.fromkeys(data["tasks"]))  # once each, in the order given
        visible = set(
            selectors.tasks_visible_to(request.user)
            .filter(pk__in=ids)
            .values_list("pk", flat=True)
        )
        results = []
        for task_id in ids:
            if task_id not in visible:
                results.append(_result(task_id, NotFound("No such task.")))
                continue
            try:
                decided = services.decide(
                    task_id=task_id,
                    actor=request.user,
                    decision=data["decision"],
                    comment=data["comment"],
                    via=Via.API,
                )
            except ApprovalError as exc:
                results.append(_result(task_id, exc))
            else:
                results.append(
                    {"task": task_id, "ok": True, "status": 200, "detail": decided.state}
                )
        return Response({"results": results})


def _result(task_id: int, exc: ApprovalError) -> dict[str, Any]:
    return {
        "task": task_id, "ok": False, "status": exc.status, "detail": exc.message,
        "code": exc.code,
    }
