"""FilterSets shared by the API and the HTML lists (one FilterSet per list).

Use with any queryset the caller may see and the GET parameters::

    RequestFilter(request.GET, queryset=requests_visible_to(person), request=request).qs

``request`` is needed only for the filters that speak of "me" (``mine=true``,
``assignee=me``). Invalid values make ``.is_valid()`` false with field errors.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import django_filters
from django import forms
from django.db.models import Q, QuerySet, TextField
from django.db.models.functions import Cast
from django_filters.fields import IsoDateTimeField

from approvals.choices import RequestState, TaskState
from approvals.models import Request, Task

ALL = "all"
ME = "me"


class UTCDateTimeField(IsoDateTimeField):
    """ISO 8601, normalized to UTC: PostgreSQL refuses offsets beyond ±16 h that Python
    accepts (``-23:06``), and an offset can push year 1 or 9999 out of range."""

    def to_python(self, value: Any) -> dt.datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed
        except (OverflowError, ValueError):
            raise forms.ValidationError("Date and time out of range.", code="invalid") from None


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCDateTimeField


class IntegerFilter(django_filters.NumberFilter):
    """Whole numbers only: ``1.5`` is an error, not silently request 1."""

    field_class = forms.IntegerField


def _person(filterset: django_filters.FilterSet) -> Any:
    request = getattr(filterset, "request", None)
    user = getattr(request, "user", None)
    return user if user is not None and user.is_authenticated else None


class RequestFilter(django_filters.FilterSet):
    """Requests by state, workflow, requester, the object they are about, and text."""

    state = django_filters.ChoiceFilter(choices=RequestState.choices)
    workflow = django_filters.CharFilter(
        field_name="workflow__key", max_length=100, help_text="Workflow key."
    )
    requester = django_filters.CharFilter(
        field_name="requester__username", max_length=150, help_text="Requester's username."
    )
    # A choice, not a boolean: "perhaps" is an error, not silently ignored.
    mine = django_filters.ChoiceFilter(
        choices=[("true", "true"), ("false", "false")],
        method="filter_mine",
        help_text="true: only the caller's own requests.",
    )
    entity_type = django_filters.CharFilter(max_length=100)
    entity_id = django_filters.CharFilter(max_length=200)
    q = django_filters.CharFilter(
        method="filter_text", max_length=200, help_text="Searches titles and inputs."
    )
    created_after = UTCDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UTCDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Request
        fields: list[str] = []

    def filter_mine(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value != "true":
            return queryset
        person = _person(self)
        return queryset.filter(requester=person) if person else queryset.none()

    def filter_text(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        # Good enough for now: the inputs' JSON as text. A full-text index can come later.
        return queryset.annotate(_inputs_text=Cast("inputs", TextField())).filter(
            Q(title__icontains=value) | Q(_inputs_text__icontains=value)
        )


class TaskFilter(django_filters.FilterSet):
    """The inbox by default (``state=open``, ``assignee=me``); ``state=all`` and
    ``assignee=all`` (or a username) widen it, within what the base queryset allows."""

    state = django_filters.ChoiceFilter(
        choices=[*TaskState.choices, (ALL, "All")],
        method="filter_state",
        empty_label=None,
        help_text="A task state, or 'all'. Default: open.",
    )
    assignee = django_filters.CharFilter(
        method="filter_assignee",
        max_length=150,
        help_text="'me' (default), 'all', or a username.",
    )
    workflow = django_filters.CharFilter(field_name="request__workflow__key", max_length=100)
    request = IntegerFilter(
        field_name="request_id", min_value=1, max_value=2**63 - 1, help_text="Request id."
    )

    class Meta:
        model = Task
        fields: list[str] = []

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        data = data.copy() if data is not None else {}
        # The documented defaults: the caller's open tasks.
        if not data.get("state"):
            data["state"] = TaskState.OPEN
        if not data.get("assignee"):
            data["assignee"] = ME
        super().__init__(data, *args, **kwargs)

    @property
    def is_inbox(self) -> bool:
        """Whether the filters ask for exactly the caller's open tasks (the hot path)."""
        return self.asks_for_inbox(self.data)

    @staticmethod
    def asks_for_inbox(params: Any) -> bool:
        """``is_inbox`` for GET parameters, without building the filterset."""
        return (params.get("state") or TaskState.OPEN) == TaskState.OPEN and (
            params.get("assignee") or ME
        ) == ME

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset if value == ALL else queryset.filter(state=value)

    def filter_assignee(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == ALL:
            return queryset
        if value == ME:
            person = _person(self)
            return queryset.filter(assignee=person) if person else queryset.none()
        return queryset.filter(assignee__username=value)
