"""Microsoft Teams through an incoming webhook: an Adaptive Card with links.

The webhook posts into a channel others can read, so the card's decision links
work only for the addressee, logged in (the confirmation page checks)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings

from ..render import Message, build_message
from .base import DeliveryError, post

if TYPE_CHECKING:
    from orgchart.models import Person

    from ..models import Outbox


def available(person: Person) -> bool:
    return bool(settings.TEAMS_WEBHOOK_URL)


def card(msg: Message, person: Person) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": msg.headline, "weight": "Bolder", "size": "Medium",
         "wrap": True},
        {"type": "TextBlock", "text": f"For {person.display_name}", "isSubtle": True,
         "spacing": "None"},
    ]
    for line in msg.updates:
        body.append({"type": "TextBlock", "text": f"Earlier: {line}", "wrap": True,
                     "isSubtle": True})
    for line in msg.lines:
        body.append({"type": "TextBlock", "text": line, "wrap": True})
    if msg.facts:
        body.append({"type": "FactSet",
                     "facts": [{"title": k, "value": v} for k, v in msg.facts]})
    actions = [{"type": "Action.OpenUrl", "title": a.label, "url": a.url} for a in msg.actions]
    if msg.url:
        actions.append({"type": "Action.OpenUrl", "title": "Open", "url": msg.url})
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }


def send(row: Outbox, merged: list[Outbox]) -> None:
    url = settings.TEAMS_WEBHOOK_URL
    if not url:
        raise DeliveryError("Teams is not configured (TEAMS_WEBHOOK_URL)", permanent=True)
    if row.recipient is None:
        raise DeliveryError("a Teams message needs a recipient", permanent=True)
    msg = build_message(row, merged, via="teams", login_required=True)
    body = {
        "type": "message",
        "summary": msg.subject,
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card(msg, row.recipient),
            }
        ],
    }
    post(
        url,
        json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
    )
