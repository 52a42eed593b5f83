"""Org chart API: people, roles, and the caller's own out-of-office entries.

Thin: read through ``selectors``, change through ``services``, map refusals to 400
with field errors (or 404 for an absence that is not the caller's).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from config import api_errors
from orgchart import selectors, services
from orgchart.errors import OrgChartError
from orgchart.models import Absence

from .serializers import (
    AbsenceSerializer,
    AbsenceUpdateSerializer,
    AbsenceWriteSerializer,
    PersonSerializer,
    RoleSerializer,
)

# Org chart wording where the shared one speaks of other objects.
_WHY = {
    403: "Not allowed.",
    404: "No such object, or not the caller's.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    return api_errors.errors(*codes, why=_WHY)


_ID = re.compile(r"[0-9]{1,18}")
_ID_PARAM = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema_view(
    retrieve=extend_schema(responses={200: PersonSerializer, **errors(401, 403, 404)}),
    list=extend_schema(
        responses={200: PersonSerializer(many=True), **errors(400, 401, 403, 404)},
        parameters=[
            OpenApiParameter("department", str),
            OpenApiParameter("manager", str, description="the manager's username"),
            OpenApiParameter("role", str, description="a role name"),
            OpenApiParameter("active", bool),
        ]
    )
)
class PersonViewSet(viewsets.ReadOnlyModelViewSet):
    """The company directory; filters ``?department=``, ``?manager=USERNAME``,
    ``?role=NAME``, ``?active=true|false``."""

    serializer_class = PersonSerializer
    lookup_field = "username"
    lookup_value_regex = "[^/]+"  # any name reaches the view, which answers 404 in JSON
    filter_backends: list = []

    def get_queryset(self) -> Any:
        qs = selectors.people_list()
        params = self.request.query_params
        if params.get("department"):
            qs = qs.filter(department=params["department"])
        if params.get("manager"):
            qs = qs.filter(manager__username=params["manager"])
        if params.get("role"):
            qs = qs.filter(roles__name=params["role"])
        if "active" in params:
            active = _ACTIVE.get(params["active"].strip().lower())
            if active is None:
                raise ValidationError({"active": ["Use true or false."]})
            qs = qs.filter(is_active=active)
        return qs.order_by("username")


_ACTIVE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@extend_schema_view(
    list=extend_schema(responses={200: RoleSerializer(many=True), **errors(401, 403, 404)}),
    retrieve=extend_schema(responses={200: RoleSerializer, **errors(401, 403, 404)}),
)
class RoleViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = RoleSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"  # any name reaches the view, which answers 404 in JSON
    filter_backends: list = []
    queryset = selectors.roles_list().order_by("name")


def _window(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """``services.day_window``, with an end date of 9999-12-31 (whose "day after" is past
    the last date there is) refused as bad input instead of an OverflowError."""
    try:
        return services.day_window(start, end)
    except OverflowError:
        raise ValidationError({"end": ["The last day is out of range."]}) from None


def _refusal(exc: OrgChartError) -> Exception:
    if exc.code == "not_found":
        return NotFound(exc.message)
    return ValidationError(exc.errors or {"non_field_errors": [exc.message]})


@extend_schema_view(
    list=extend_schema(responses={200: AbsenceSerializer(many=True), **errors(401, 403, 404)}),
    retrieve=extend_schema(
        parameters=[_ID_PARAM], responses={200: AbsenceSerializer, **errors(401, 403, 404)}
    ),
)
class OutOfOfficeViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's absences: list, add, change, remove."""

    serializer_class = AbsenceSerializer
    lookup_value_regex = "[^/]+"  # any id reaches the view, which answers 404 in JSON

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # the schema generator has no user
            return Absence.objects.none()
        return selectors.absences_of(self.request.user)

    def get_object(self) -> Absence:
        # Only ids that can exist reach the database (no overflow on PostgreSQL).
        if not _ID.fullmatch(str(self.kwargs.get("pk", ""))):
            raise NotFound("No such absence.")
        return super().get_object()

    @extend_schema(
        request=AbsenceWriteSerializer,
        responses={201: AbsenceSerializer, **errors(400, 401, 403, 415)},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = AbsenceWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        start, end = _window(data["start"], data["end"])
        try:
            absence = services.absence_create(
                actor=request.user,
                person=request.user,
                start=start,
                end=end,
                delegate=data.get("delegate"),
                workflows=data.get("workflows", []),
                move_open_tasks=data.get("move_open_tasks", False),
                note=data.get("note", ""),
            )
        except OrgChartError as exc:
            raise _refusal(exc) from exc
        return Response(AbsenceSerializer(absence).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[_ID_PARAM],
        request=AbsenceUpdateSerializer,
        responses={200: AbsenceSerializer, **errors(400, 401, 403, 404, 415)},
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        absence = self.get_object()
        body = AbsenceUpdateSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = dict(body.validated_data)
        if "start" in changes or "end" in changes:
            # A date-only end means "the last day away"; day_window applies it.
            start, end = _window(
                changes.get("start", absence.start), changes.get("end", absence.end)
            )
            if "start" in changes:
                changes["start"] = start
            if "end" in changes:
                changes["end"] = end
        try:
            absence = services.absence_update(
                absence_id=absence.pk, actor=request.user, **changes
            )
        except OrgChartError as exc:
            raise _refusal(exc) from exc
        return Response(AbsenceSerializer(absence).data)

    @extend_schema(parameters=[_ID_PARAM], responses={204: None, **errors(401, 403, 404)})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        absence = self.get_object()
        try:
            services.absence_delete(absence_id=absence.pk, actor=request.user)
        except OrgChartError as exc:
            raise _refusal(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
