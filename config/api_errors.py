"""The documented error responses of every /api/v1/ operation (OpenAPI, drf-spectacular).

Shared by approvals/api, orgchart/api and audit/api, so it depends on no project app.
The shapes are those of the project's exception handler
(``REST_FRAMEWORK["EXCEPTION_HANDLER"]``): ``{"detail", "code"}`` for every error
but 400, which carries DRF field errors ``{"field": ["message"]}`` (or the former).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """``{"detail": "No such task.", "code": "not_found"}`` (component ``Error``)."""

    detail = serializers.CharField()
    code = serializers.CharField()


DESCRIPTIONS: dict[int, str] = {
    400: 'Bad input: DRF field errors {"field": ["message"]} or {"detail", "code"}.',
    401: "No credentials, or bad ones.",
    403: "The caller may see the object but may not take this action.",
    404: "No such object, or one the caller may not see.",
    409: "A state conflict (already decided, no longer pending), or an Idempotency-Key "
    "reused with another body / still in progress.",
    415: "Unsupported Content-Type.",
}


def errors(*codes: int, why: dict[int, str] | None = None) -> dict[int, OpenApiResponse]:
    """The error responses of an operation, with their shapes; ``why`` overrides the
    description of some codes (``why={403: "Auditors only."}``)."""
    described = {**DESCRIPTIONS, **(why or {})}
    out: dict[int, OpenApiResponse] = {}
    for code in codes:
        # 400 bodies name the offending fields, so they are free-form objects.
        schema = OpenApiTypes.OBJECT if code == 400 else ErrorSerializer
        out[code] = OpenApiResponse(schema, description=described[code])
    return out
