"""Slack's side of interactivity: verify a callback, find the person who pressed,
and tell Slack what happened (through the callback's response_url)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from slack_sdk.errors import SlackApiError

from orgchart.models import Person

from .channels.base import DeliveryError, post

logger = logging.getLogger(__name__)

# Slack's own rule: a request more than five minutes old may be a replay.
MAX_SKEW_SECONDS = 300


class SlackRefused(Exception):
    """A callback that is not provably from Slack, or not usable; nothing is done."""

    def __init__(self, message: str, *, status: int = 401, code: str = "bad_signature"):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


def verify(
    *, body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> None:
    """Check X-Slack-Request-Timestamp and X-Slack-Signature, as Slack documents:
    ``v0=`` + hex HMAC-SHA256(signing secret, ``v0:{timestamp}:{body}``)."""
    secret = settings.SLACK_SIGNING_SECRET
    if not secret:
        raise SlackRefused(
            "Slack interactivity is not configured", status=503, code="not_configured"
        )
    if not timestamp or not signature:
        raise SlackRefused("missing X-Slack-Request-Timestamp or X-Slack-Signature")
    try:
        ts = int(timestamp)
    except ValueError as exc:
        raise SlackRefused("X-Slack-Request-Timestamp is not a number") from exc
    now = time.time() if now is None else now
    if abs(now - ts) > MAX_SKEW_SECONDS:
        raise SlackRefused("the request timestamp is more than 5 minutes off", code="stale")
    expected = "v0=" + hmac.new(
        secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise SlackRefused("the Slack signature does not match")


@dataclass(frozen=True)
class ButtonPress:
    slack_user_id: str
    task_id: int
    decision: str
    response_url: str


def parse(form_payload: str | None) -> ButtonPress | None:
    """The Approve press in a block_actions callback; None for anything else (link
    buttons also call back, and are only acknowledged). SlackRefused if malformed."""
    if not form_payload:
        raise SlackRefused("no payload", status=400, code="invalid")
    try:
        data: Any = json.loads(form_payload)
    except ValueError as exc:
        raise SlackRefused("the payload is not JSON", status=400, code="invalid") from exc
    if not isinstance(data, dict) or data.get("type") != "block_actions":
        return None
    user = data.get("user") or {}
    for action in data.get("actions") or []:
        if not isinstance(action, dict) or action.get("action_id") != "approve":
            continue
        try:
            task_id = int(action.get("value", ""))
        except (TypeError, ValueError) as exc:
            raise SlackRefused("the button carries no task", status=400, code="invalid") from exc
        if not isinstance(user, dict) or not user.get("id"):
            raise SlackRefused("the payload names no user", status=400, code="invalid")
        return ButtonPress(
            slack_user_id=str(user["id"]),
            task_id=task_id,
            decision="approve",
            response_url=str(data.get("response_url") or ""),
        )
    return None


def person_for(slack_user_id: str) -> Person | None:
    """The person by Slack id, else by the email Slack has for them (users.info)."""
    person = Person.objects.filter(slack_user_id=slack_user_id, is_active=True).first()
    if person is not None or not settings.SLACK_BOT_TOKEN:
        return person
    from .channels.slack import client

    try:
        info = client().users_info(user=slack_user_id)
    except SlackApiError as exc:
        logger.warning("slack: users.info(%s) failed: %s", slack_user_id, exc)
        return None
    except OSError as exc:
        logger.warning("slack: users.info(%s) unreachable: %s", slack_user_id, exc)
        return None
    email = ((info.get("user") or {}).get("profile") or {}).get("email")
    if not email:
        return None
    matches = list(Person.objects.filter(email__iexact=email, is_active=True)[:2])
    return matches[0] if len(matches) == 1 else None


def respond(response_url: str, text: str, *, replace: bool) -> None:
    """Tell the presser what happened. Only to Slack's own hosts (or those set in
    SLACK_RESPONSE_URL_PREFIXES), and never failing the callback."""
    if not response_url or not response_url.startswith(tuple(settings.SLACK_RESPONSE_URL_PREFIXES)):
        return
    body = {"text": text, "replace_original": replace, "response_type": "ephemeral"}
    try:
        post(
            response_url,
            json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            timeout=3,
        )
    except DeliveryError as exc:
        logger.warning("slack: response_url failed: %s", exc)
