"""What every API view shares: id parsing, the documented error responses."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework.pagination import PageNumberPagination

from approvals.api.serializers import ErrorSerializer
from approvals.errors import NotFound

MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]{1,19}")
# Workflow keys are slugs (RECIPES.md); anything else (a NUL byte, say) names nothing.
_KEY = re.compile(r"[-a-zA-Z0-9_]{1,100}")


def parse_id(value: object, what: str = "object") -> int:
    """A path id as an int, or 404: ``abc``, ``-1``, ``0`` and 10**30 name nothing."""
    text = str(value)
    if not _ID.fullmatch(text) or not 0 < int(text) <= MAX_ID:
        raise NotFound(f"No such {what}.")
    return int(text)


def parse_key(value: object, what: str = "workflow") -> str:
    text = str(value)
    if not _KEY.fullmatch(text):
        raise NotFound(f"No such {what}.")
    return text


def id_parameter(description: str) -> OpenApiParameter:
    return OpenApiParameter(
        "id", OpenApiTypes.INT, OpenApiParameter.PATH, description=description
    )


_DESCRIPTIONS = {
    400: "Bad input: DRF field errors {\"field\": [\"message\"]} or {\"detail\", \"code\"}.",
    401: "No credentials, or bad ones.",
    403: "The caller may see the object but may not take this action.",
    404: "No such object, or one the caller may not see.",
    409: "A state conflict (already decided, no longer pending), or an Idempotency-Key "
    "reused with another body / still in progress.",
    415: "Unsupported Content-Type.",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """The error responses of an operation, documented with their shapes."""
    out: dict[int, OpenApiResponse] = {}
    for code in codes:
        schema = OpenApiTypes.OBJECT if code == 400 else ErrorSerializer
        out[code] = OpenApiResponse(schema, description=_DESCRIPTIONS[code])
    return out


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
