"""Slack: Block Kit messages through the Web API (chat.postMessage to the person,
found by Slack id or email) or an incoming webhook.

Buttons: Approve decides through the interactivity endpoint (views.slack_interactions).
Reject and Request changes need a comment, which a button cannot carry, so they are
link buttons to the confirmation page, where the comment is written."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from ..render import Message, build_message
from .base import DeliveryError, post

if TYPE_CHECKING:
    from orgchart.models import Person

    from ..models import Outbox

# Errors after which a retry cannot help.
PERMANENT_ERRORS = {
    "users_not_found", "channel_not_found", "invalid_auth", "not_authed", "account_inactive",
    "user_not_found", "user_disabled", "no_permission", "missing_scope",
}


def client() -> WebClient:
    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.SLACK_API_URL,
        timeout=int(settings.WEBHOOK_TIMEOUT_SECONDS),
    )


def available(person: Person) -> bool:
    if settings.SLACK_BOT_TOKEN:
        return bool(person.slack_user_id or person.email)
    return bool(settings.SLACK_WEBHOOK_URL)


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks(msg: Message) -> list[dict[str, Any]]:
    text = f"*{escape(msg.headline)}*"
    if msg.lines:
        text += "\n" + "\n".join(escape(line) for line in msg.lines)
    out: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if msg.facts:
        out.append({
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)[:200]}"}
                for k, v in msg.facts[:10]
            ],
        })
    if msg.updates:
        out.append({
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "Earlier: " + escape("; ".join(msg.updates))}],
        })
    elements: list[dict[str, Any]] = []
    for action in msg.actions:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action.decision,
            "text": {"type": "plain_text", "text": action.label},
        }
        if action.decision == "approve":
            button.update(style="primary", value=str(msg.task_id))
        else:
            button["url"] = action.url
            if action.decision == "reject":
                button["style"] = "danger"
        elements.append(button)
    if msg.url:
        elements.append({
            "type": "button", "action_id": "open", "url": msg.url,
            "text": {"type": "plain_text", "text": "Open"},
        })
    if elements:
        block_id = f"task:{msg.task_id or 0}"
        out.append({"type": "actions", "block_id": block_id, "elements": elements})
    return out


def slack_id_for(person: Person, api: WebClient) -> str:
    if person.slack_user_id:
        return person.slack_user_id
    try:
        found = api.users_lookupByEmail(email=person.email)
    except SlackApiError as exc:
        error = exc.response.get("error", "")
        raise DeliveryError(
            f"Slack users.lookupByEmail({person.email}): {error}",
            permanent=error in PERMANENT_ERRORS,
        ) from exc
    return str(found["user"]["id"])


def send(row: Outbox, merged: list[Outbox]) -> None:
    person = row.recipient
    if person is None:
        raise DeliveryError("a Slack message needs a recipient", permanent=True)
    if settings.SLACK_BOT_TOKEN:
        msg = build_message(row, merged, via="slack")
        api = client()
        try:
            api.chat_postMessage(
                channel=slack_id_for(person, api), text=msg.subject, blocks=blocks(msg)
            )
        except SlackApiError as exc:
            error = exc.response.get("error", "")
            raise DeliveryError(
                f"Slack chat.postMessage: {error}", permanent=error in PERMANENT_ERRORS
            ) from exc
        return
    if settings.SLACK_WEBHOOK_URL:
        # A webhook posts into a channel others read: the links need the person logged in.
        msg = build_message(row, merged, via="slack", login_required=True)
        text = f"{msg.subject} (for {person.display_name})"
        post(
            settings.SLACK_WEBHOOK_URL,
            json.dumps({"text": text, "blocks": blocks(msg)}).encode(),
            headers={"Content-Type": "application/json"},
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        return
    raise DeliveryError(
        "Slack is not configured (SLACK_BOT_TOKEN or SLACK_WEBHOOK_URL)", permanent=True
    )
