"""Signed outgoing webhooks for integrations.

Each delivery is a JSON POST with
- ``X-Approvals-Timestamp``: Unix seconds of this attempt;
- ``X-Approvals-Signature``: ``v1=`` + hex HMAC-SHA256, keyed with the
  subscription's secret, over ``"{timestamp}." + body``;
- ``Idempotency-Key``: the same for every attempt of one message, so a receiver
  that sees it twice (a retry after a lost response) can ignore the second;
- ``X-Approvals-Event``: the event kind.
The body is the event as written (it does not change between attempts)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING

from django.conf import settings

from .base import DeliveryError, post

if TYPE_CHECKING:
    from orgchart.models import Person

    from ..models import Outbox


def available(person: Person) -> bool:
    return False  # integrations subscribe; people do not choose webhooks


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def body_of(row: Outbox) -> bytes:
    data = {"id": row.dedup_key, **row.payload}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def send(row: Outbox, merged: list[Outbox]) -> None:
    sub = row.subscription
    if sub is None:
        raise DeliveryError("a webhook message needs a subscription", permanent=True)
    if not sub.is_active:
        raise DeliveryError(f"subscription {sub.name!r} was switched off", permanent=True)
    body = body_of(row)
    timestamp = str(int(time.time()))
    post(
        sub.url,
        body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Approvals-Webhook/1",
            "X-Approvals-Event": row.kind,
            "X-Approvals-Timestamp": timestamp,
            "X-Approvals-Signature": sign(sub.secret, timestamp, body),
            "Idempotency-Key": hashlib.sha256(row.dedup_key.encode()).hexdigest(),
        },
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
