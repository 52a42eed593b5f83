"""What every API view shares: id parsing, the documented error responses."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.pagination import PageNumberPagination

from approvals.errors import NotFound
from config.api_errors import errors

__all__ = ["MAX_ID", "Pagination", "errors", "id_parameter", "parse_id", "parse_key"]

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


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
