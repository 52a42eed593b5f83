"""``Idempotency-Key`` on every POST.

The same key from the same caller within 24 hours returns the first response
again (same status, same body) and has no second effect; the same key with
another body (or on another endpoint) is 409.

Concurrent repeats: the key is claimed by inserting a *pending* row in its own
transaction before the view runs, and the database's unique constraint lets
exactly one insert in. The others poll briefly for the winner's stored response
and replay it, or answer 409 ``idempotency_in_progress`` if it takes too long.
A response of 500 or more is not kept (the key is released) so a retry may run.
Expired keys count as absent; beat deletes them every hour (``purge_expired``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import QueryDict
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request as DRFRequest
from rest_framework.response import Response

from config.saving import save_fields

from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")

IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any string of 1-255 visible ASCII characters. A repeat of the key by the same "
        "caller within 24 hours returns the first response (same status and body) and "
        "does nothing again; the same key with another body is 409."
    ),
)


def _option(name: str, default: float) -> float:
    return float(getattr(settings, "APPROVALS", {}).get(name, default))


def retention() -> timedelta:
    return timedelta(hours=_option("IDEMPOTENCY_TTL_HOURS", 24))


def _canonical(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        digest = hashlib.sha256()
        for chunk in value.chunks():
            digest.update(chunk)
        value.seek(0)
        return {"file": value.name, "size": value.size, "sha256": digest.hexdigest()}
    if isinstance(value, QueryDict):
        return {k: [_canonical(v) for v in value.getlist(k)] for k in sorted(value)}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def fingerprint(request: DRFRequest) -> str:
    """Method, path and body, canonical: the identity of "the same request"."""
    body = json.dumps(_canonical(request.data), sort_keys=True, default=str)
    text = f"{request.method}\n{request.get_full_path()}\n{body}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _conflict(detail: str, code: str) -> Response:
    return Response({"detail": detail, "code": code}, status=status.HTTP_409_CONFLICT)


def _replay(row: IdempotencyKey) -> Response:
    return Response(row.response_body, status=row.status_code, headers={REPLAY_HEADER: "true"})


def claim(
    *, owner: Any, key: str, digest: str, method: str, path: str
) -> IdempotencyKey | Response:
    """Insert the pending row (the claim) or answer for the row already there:
    its stored response, or 409 (another body; still running after the wait)."""
    deadline = time.monotonic() + _option("IDEMPOTENCY_WAIT_SECONDS", 5.0)
    poll = _option("IDEMPOTENCY_POLL_SECONDS", 0.05)
    while True:
        now = timezone.now()
        try:
            # Its own (sub)transaction: the unique constraint settles the race.
            with transaction.atomic():
                row = IdempotencyKey.objects.create(
                    owner=owner, key=key, fingerprint=digest, method=method,
                    path=path[:500], created_at=now,
                )
        except IntegrityError:
            pass
        else:
            return row
        existing = IdempotencyKey.objects.filter(owner=owner, key=key).first()
        if existing is not None and existing.created_at < now - retention():
            # Expired: it counts as absent. Delete exactly that row, then claim again.
            IdempotencyKey.objects.filter(pk=existing.pk, created_at=existing.created_at).delete()
            continue
        if existing is not None:
            if existing.fingerprint != digest:
                return _conflict(
                    "This Idempotency-Key was used with another request body or endpoint.",
                    "idempotency_key_reused",
                )
            if not existing.is_pending:
                return _replay(existing)
        if time.monotonic() >= deadline:
            return _conflict(
                "A request with this Idempotency-Key is still being processed; retry later.",
                "idempotency_in_progress",
            )
        time.sleep(poll)


def _store(row: IdempotencyKey, response: Response) -> None:
    """Keep the response on the claimed row (one UPDATE of the three columns, its
    statement written once: ``config.saving``). The work is done and committed: a row
    purged meanwhile (a call longer than the keys' lifetime) is no error."""
    row.status_code = response.status_code
    row.response_body = response.data
    row.completed_at = timezone.now()
    save_fields(row, "status_code", "response_body", "completed_at", missing_ok=True)


def _release(row: IdempotencyKey) -> None:
    IdempotencyKey.objects.filter(pk=row.pk, status_code__isnull=True).delete()


Handler = Callable[..., Response]


def idempotent(handler: Handler) -> Handler:
    """Decorate an APIView's ``post``: honour the ``Idempotency-Key`` header."""

    @functools.wraps(handler)
    def wrapper(view: Any, request: DRFRequest, *args: Any, **kwargs: Any) -> Response:
        key = request.headers.get(HEADER)
        if key is None:
            return handler(view, request, *args, **kwargs)
        if not _KEY.fullmatch(key):
            raise ValidationError(
                {HEADER: ["Must be 1 to 255 visible ASCII characters (no spaces)."]}
            )
        outcome = claim(
            owner=request.user,
            key=key,
            digest=fingerprint(request),
            method=request.method or "POST",
            path=request.get_full_path(),
        )
        if isinstance(outcome, Response):
            return outcome
        try:
            try:
                response = handler(view, request, *args, **kwargs)
            except Exception as exc:
                # The same mapping DRF would apply; unmapped errors re-raise.
                response = view.handle_exception(exc)
        except BaseException:
            _release(outcome)
            raise
        if response.status_code >= 500:
            _release(outcome)
        else:
            _store(outcome, response)
        return response

    return wrapper


def purge_expired(*, batch: int = 10_000) -> int:
    """Delete every expired key, oldest first, ``batch`` rows a statement (each its own
    short transaction: no long lock, no huge one). Returns how many were deleted."""
    cutoff = timezone.now() - retention()
    deleted = 0
    while True:
        expired = IdempotencyKey.objects.filter(created_at__lt=cutoff).order_by("created_at")
        ids = list(expired.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids, created_at__lt=cutoff).delete()[0]
