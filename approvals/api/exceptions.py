"""One mapping from errors to API responses (REST_FRAMEWORK["EXCEPTION_HANDLER"]).

- ``approvals.errors.ApprovalError`` subclasses carry ``.status`` and ``.code``:
  ``{"detail", "code"}`` with that status; an ``InvalidInput`` with located faults
  becomes DRF field errors (``{"inputs": {"amount": ["..."]}}``).
- DRF's own errors keep their shape; non-field ones gain a ``code``.
- Django's ``Http404``, ``PermissionDenied``, ``ValidationError`` and a stray
  ``DoesNotExist`` or FSM refusal are answered as 404 / 403 / 400 / 409 instead of 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django_fsm import TransitionNotAllowed
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from approvals.errors import ApprovalError, InvalidInput
from approvals.recipes.schema import Fault


def faults_as_field_errors(faults: list[Fault]) -> dict[str, Any]:
    """``inputs.amount`` -> ``{"inputs": {"amount": [msg]}}``;
    ``comment`` -> ``{"comment": [msg]}``."""
    out: dict[str, Any] = {}
    for fault in faults:
        head, _, rest = (fault.path or "non_field_errors").partition(".")
        if rest:
            nested = out.setdefault(head, {})
            if isinstance(nested, list):  # a message on the whole field came first
                nested = out[head] = {"non_field_errors": nested}
            nested.setdefault(rest, []).append(fault.message)
        else:
            existing = out.setdefault(head, [])
            if isinstance(existing, dict):
                existing.setdefault("non_field_errors", []).append(fault.message)
            else:
                existing.append(fault.message)
    return out


def faults_as_errors(faults: list[Fault]) -> dict[str, Any]:
    """The recipe shape: ``{"errors": [{"path", "line"?, "message"}]}``."""
    return {"errors": [fault.as_dict() for fault in faults]}


def error_body(detail: str, code: str) -> dict[str, str]:
    return {"detail": detail, "code": code}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApprovalError):
        if isinstance(exc, InvalidInput) and exc.faults:
            return Response(faults_as_field_errors(exc.faults), status=status.HTTP_400_BAD_REQUEST)
        return Response(error_body(exc.message, exc.code), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        return Response(
            {"non_field_errors": list(exc.messages)}, status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, TransitionNotAllowed):
        return Response(
            error_body("The object is no longer in a state that allows this.", "conflict"),
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(response.data, list):  # ValidationError("message"): keep one shape
        response.data = {"non_field_errors": response.data}
    elif isinstance(exc, exceptions.APIException) and set(response.data) == {"detail"}:
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        response.data = error_body(str(detail), str(code))
    return response
