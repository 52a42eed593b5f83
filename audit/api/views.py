"""/api/v1/audit/: list, verify, export. Thin: parse, call one selector or service, render."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.filters import EventFilter, FilterError, parse_filters
from audit.hashing import canonical_json
from audit.permissions import is_auditor
from audit.selectors import events_for, hydrate, iter_hydrated
from audit.verify import verify_all
from config.api_errors import errors

from .serializers import AuditEventSerializer, VerifySerializer

FILTER_PARAMETERS = [
    OpenApiParameter("request", int, description="a request id"),
    OpenApiParameter("workflow", str, description="a workflow key"),
    OpenApiParameter("workflow_version", int),
    OpenApiParameter("event_type", str, description="one type, or several separated by commas"),
    OpenApiParameter("actor", str, description="a username: who acted, or on whose behalf"),
    OpenApiParameter("on_behalf_of", str, description="a username"),
    OpenApiParameter("since", OpenApiTypes.DATETIME, description="at or after (date or datetime)"),
    OpenApiParameter("until", OpenApiTypes.DATETIME, description="before (date or datetime)"),
    OpenApiParameter("imported", bool),
    OpenApiParameter("tier", str, enum=["all", "hot", "archive"]),
    OpenApiParameter(
        "inputs.FIELD__OP",
        str,
        description="a request input: inputs.amount__gte=50000 (OP: exact, gte, gt, lte, lt; "
        "numbers compare numerically, also against money stored as strings)",
    ),
]

CSV_HEADER = [
    "id",
    "at",
    "request",
    "workflow",
    "workflow_version",
    "event_type",
    "actor",
    "role",
    "on_behalf_of",
    "via",
    "inputs",
    "payload",
    "imported",
    "chain",
    "seq",
    "prev_hash",
    "hash",
    "tier",
]


def _filters(request: Request) -> EventFilter:
    try:
        return parse_filters(request.query_params)
    except FilterError as error:
        raise exceptions.ValidationError({error.param: [error.message]}) from None


class AuditPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


_WHY = {
    400: 'A filter it cannot use: {"param": ["message"]}.',
    404: "A page past the last one.",
}


class AuditEventListView(APIView):
    """Events the caller may see, newest first, with the auditors' filters."""

    # Read by the schema generator too, so the 200 is documented as the page it is.
    pagination_class = AuditPagination

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={200: AuditEventSerializer(many=True), **errors(400, 401, 404, why=_WHY)},
    )
    def get(self, request: Request) -> Response:
        flt = _filters(request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(events_for(request.user, flt), request, view=self)
        rows = hydrate(list(page or []))
        return paginator.get_paginated_response(AuditEventSerializer(rows, many=True).data)


class AuditVerifyView(APIView):
    """Walks every chain, the archive and the checkpoints (auditors only)."""

    @extend_schema(
        responses={200: VerifySerializer, **errors(401, 403, why={403: "Auditors only."})}
    )
    def get(self, request: Request) -> Response:
        if not is_auditor(request.user):
            raise exceptions.PermissionDenied("Only auditors may verify the audit trail.")
        return Response(verify_all().as_dict())


class _Echo:
    """csv.writer writes into this and gets the line back to stream."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_HEADER)
    for row in rows:
        actor = row["actor"] or {}
        yield writer.writerow(
            [
                row["id"],
                row["at"].isoformat(),
                row["request_id"] if row["request_id"] is not None else "",
                row["workflow_key"],
                row["workflow_version"] if row["workflow_version"] is not None else "",
                row["event_type"],
                actor.get("user") or "",
                actor.get("role") or "",
                actor.get("on_behalf_of") or "",
                actor.get("via") or "",
                canonical_json(row["inputs"]),
                canonical_json(row["payload"]) if row["payload"] is not None else "",
                "true" if row["imported"] else "false",
                row["chain"],
                row["seq"],
                row["prev_hash"],
                row["hash"],
                row["tier"],
            ]
        )


class AuditExportView(APIView):
    """The same filters as the list, as CSV, oldest first, streamed."""

    @extend_schema(
        parameters=FILTER_PARAMETERS,
        responses={(200, "text/csv"): OpenApiTypes.STR, **errors(400, 401, why=_WHY)},
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        flt = _filters(request)
        rows = iter_hydrated(events_for(request.user, flt, newest_first=False))
        response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.csv"'
        return response
