"""Workflows: list, read, publish (JSON or YAML), simulate."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request as DRFRequest
from rest_framework.response import Response
from rest_framework.views import APIView

from approvals import planning, services
from approvals.api.exceptions import faults_as_errors
from approvals.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from approvals.api.parsers import SafeJSONParser, YAMLTextAliasParser, YAMLTextParser
from approvals.api.permissions import IsAuthor, IsAuthorOrReadOnly
from approvals.api.serializers import (
    PublishResultSerializer,
    RecipeErrorsSerializer,
    SimulateInputSerializer,
    SimulationSerializer,
    WorkflowDetailSerializer,
    WorkflowSerializer,
)
from approvals.errors import InvalidInput, NotFound
from approvals.models import Workflow, WorkflowVersion
from approvals.recipes.schema import Fault
from orgchart.models import Person

from .base import Pagination, errors, parse_key

TAGS = ["workflows"]
KEY_PARAMETER = OpenApiParameter("key", OpenApiTypes.STR, OpenApiParameter.PATH)


def _published() -> QuerySet[Workflow]:
    # Workflows are not secret (restriction is about requests): every caller sees
    # the published ones.
    return Workflow.objects.filter(latest_version__isnull=False).select_related("latest_version")


def _faults_from(data: Any, path: str = "") -> list[Fault]:
    """DRF error data (field errors or {"detail", "code"}) as located faults."""
    if isinstance(data, dict) and set(data) == {"detail", "code"}:
        return [Fault(path, str(data["detail"]))]
    if isinstance(data, dict):
        return [
            fault
            for key, value in data.items()
            for fault in _faults_from(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(data, list):
        return [fault for item in data for fault in _faults_from(item, path)]
    return [Fault(path, str(data))]


class WorkflowListCreateView(generics.ListAPIView):
    serializer_class = WorkflowSerializer
    pagination_class = Pagination
    permission_classes = [IsAuthenticated, IsAuthorOrReadOnly]
    parser_classes = [SafeJSONParser, YAMLTextParser, YAMLTextAliasParser]
    filter_backends: list = []

    def get_queryset(self) -> QuerySet[Workflow]:
        return _published().order_by("key")

    def handle_exception(self, exc: Exception) -> Response:
        """Publishing answers every 400 in one shape, ``{"errors": [{path, message}]}``:
        a body that does not parse and a bad header included."""
        response = super().handle_exception(exc)
        reshape = not isinstance(response.data, dict) or "errors" not in response.data
        if self.request.method == "POST" and response.status_code == 400 and reshape:
            response.data = faults_as_errors(_faults_from(response.data))
        return response

    @extend_schema(
        tags=TAGS,
        summary="Workflows with their latest version number",
        responses={200: WorkflowSerializer(many=True), **errors(401, 404)},
    )
    def get(self, request: DRFRequest, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=TAGS,
        summary="Publish a recipe (authors only)",
        description=(
            "The body is a recipe as a JSON object, or YAML text with "
            "`Content-Type: application/yaml`. 201 with the new version; publishing "
            "content identical to the latest version creates nothing and answers 200 "
            "with that version (`created: false`). 400 lists every fault with its path "
            "and, for YAML, its line."
        ),
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/yaml": OpenApiTypes.STR,
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={
            201: PublishResultSerializer,
            200: OpenApiResponse(PublishResultSerializer, description="Identical content."),
            400: OpenApiResponse(RecipeErrorsSerializer, description="The recipe's faults."),
            **errors(401, 403, 409, 415),
        },
    )
    @idempotent
    def post(self, request: DRFRequest) -> Response:
        data = request.data
        if isinstance(data, dict):
            source = json.dumps(data)
        elif isinstance(data, str):
            source = data
        else:
            return Response(
                faults_as_errors([Fault("", "a recipe is a JSON object or YAML text")]),
                status=status.HTTP_400_BAD_REQUEST,
            )
        try:
            version, created = services.publish(source=source, author=request.user)
        except InvalidInput as exc:
            faults = exc.faults or [Fault("", exc.message)]
            return Response(faults_as_errors(faults), status=status.HTTP_400_BAD_REQUEST)
        return Response(
            {"workflow": version.workflow.key, "version": version.number, "created": created},
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class WorkflowDetailView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="A workflow, its versions and its latest recipe",
        parameters=[KEY_PARAMETER],
        responses={200: WorkflowDetailSerializer, **errors(401, 404)},
    )
    def get(self, request: DRFRequest, key: str) -> Response:
        versions = WorkflowVersion.objects.select_related("published_by").order_by("-number")
        workflow = (
            _published().prefetch_related(Prefetch("versions", queryset=versions))
            .filter(key=parse_key(key))
            .first()
        )
        if workflow is None:
            raise NotFound("No such workflow.")
        return Response(WorkflowDetailSerializer(workflow).data)


class WorkflowSimulateView(APIView):
    permission_classes = [IsAuthenticated, IsAuthor]

    @extend_schema(
        tags=TAGS,
        summary="Who would approve this? (authors only; nothing is written)",
        request=SimulateInputSerializer,
        parameters=[KEY_PARAMETER, IDEMPOTENCY_KEY_PARAMETER],
        responses={200: SimulationSerializer, **errors(400, 401, 403, 404, 409, 415)},
    )
    @idempotent
    def post(self, request: DRFRequest, key: str) -> Response:
        key = parse_key(key)
        body = SimulateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        requester = Person.objects.filter(username=data["requester"]).first()
        if requester is None:
            return Response(
                {"requester": ["No person with this username."]},
                status=status.HTTP_400_BAD_REQUEST,
            )
        plan = planning.simulate(
            workflow_key=key, requester=requester, inputs=data["inputs"], at=data["at"]
        )
        return Response(plan)
