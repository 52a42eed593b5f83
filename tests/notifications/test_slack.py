"""Slack: Block Kit messages to a local fake Slack, and the signed interactivity endpoint."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest
from django.urls import reverse

from approvals.models import Decision
from approvals.notifications.models import Outbox
from tests.notifications.fakes import slack_signature
from tests.notifications.flows import open_task, submit

pytestmark = pytest.mark.django_db

URL = "/n/slack/interactions/"


@pytest.fixture
def slack_manager(manager):
    manager.notification_channels = ["slack"]
    manager.slack_user_id = "U0MANAGER"
    manager.save()
    return manager


def press(client, slack, *, user_id: str, task_id: int, secret: str = "slack-signing-secret",  # noqa: S107
          timestamp: int | None = None, action: str = "approve", raw: bytes | None = None):
    payload = {
        "type": "block_actions",
        "user": {"id": user_id, "username": "someone"},
        "response_url": f"{slack.url}/response",
        "actions": [{"action_id": action, "value": str(task_id), "type": "button"}],
    }
    body = raw if raw is not None else urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(timestamp if timestamp is not None else int(time.time()))
    return client.generic(
        "POST", URL, body, content_type="application/x-www-form-urlencoded",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=slack_signature(secret, ts, body),
    )


def test_the_approver_gets_a_block_kit_message_with_three_buttons(
    gadget, requester, slack_manager, slack, committed
):
    with committed():
        request = submit(requester)
    task = open_task(request)
    [got] = [r for r in slack.received if r.path == "/api/chat.postMessage"]
    assert got.headers["authorization"] == f"Bearer {slack.token}"
    message = got.json
    assert message["channel"] == "U0MANAGER"
    assert "asks for your approval" in message["text"]
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    buttons = {b["action_id"]: b for b in actions["elements"]}
    assert buttons["approve"]["value"] == str(task.pk)
    assert "url" not in buttons["approve"]  # decided through the interactivity endpoint
    # Reject and request changes need a comment: they open the confirmation page.
    assert buttons["reject"]["url"].startswith("http://127.0.0.1:8000/n/a/")
    assert buttons["request_changes"]["url"].startswith("http://127.0.0.1:8000/n/a/")
    assert Outbox.objects.get(channel="slack").state == "sent"


def test_pressing_approve_in_slack_decides_the_task(
    client, gadget, requester, slack_manager, slack, committed
):
    request = submit(requester)
    task = open_task(request)
    with committed():
        response = press(client, slack, user_id="U0MANAGER", task_id=task.pk)
    assert response.status_code == 200, response.content
    task.refresh_from_db()
    assert task.state == "approved"
    decision = Decision.objects.get(task=task)
    assert decision.via == "slack" and decision.decided_by == slack_manager
    [answer] = [r.json for r in slack.received if r.path == "/response"]
    assert answer["replace_original"] is True and "approved" in answer["text"]


def test_a_person_is_matched_by_the_email_slack_has_for_them(
    client, gadget, requester, manager, slack
):
    slack.users["U0BOB"] = manager.email  # no slack_user_id on file
    request = submit(requester)
    task = open_task(request)
    response = press(client, slack, user_id="U0BOB", task_id=task.pk)
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.state == "approved"


def test_a_forged_signature_is_refused_and_decides_nothing(
    client, gadget, requester, slack_manager, slack
):
    request = submit(requester)
    task = open_task(request)
    response = press(client, slack, user_id="U0MANAGER", task_id=task.pk, secret="not-the-secret")
    assert response.status_code == 401
    assert response.json()["code"] == "bad_signature"
    task.refresh_from_db()
    assert task.state == "open"
    assert not Decision.objects.exists()


def test_a_stale_callback_is_refused(client, gadget, requester, slack_manager, slack):
    request = submit(requester)
    task = open_task(request)
    old = int(time.time()) - 6 * 60
    response = press(client, slack, user_id="U0MANAGER", task_id=task.pk, timestamp=old)
    assert response.status_code == 401
    assert response.json()["code"] == "stale"
    assert not Decision.objects.exists()


def test_a_replayed_callback_is_refused(client, gadget, requester, manager, slack, settings):
    manager.slack_user_id = "U0MANAGER"
    manager.save()
    request = submit(requester)
    task = open_task(request)
    payload = {
        "type": "block_actions",
        "user": {"id": "U0MANAGER"},
        "actions": [{"action_id": "approve", "value": str(task.pk)}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    ts = str(int(time.time()))
    headers = {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": ts,
        "HTTP_X_SLACK_SIGNATURE": slack_signature(settings.SLACK_SIGNING_SECRET, ts, body),
    }
    first = client.generic("POST", URL, body, content_type="application/x-www-form-urlencoded",
                           **headers)
    again = client.generic("POST", URL, body, content_type="application/x-www-form-urlencoded",
                           **headers)
    assert first.status_code == 200
    assert again.status_code == 409 and again.json()["code"] == "replayed"
    assert Decision.objects.filter(task=task).count() == 1


@pytest.mark.parametrize(
    "raw", [b"payload=not-json", b"nothing=here", b"payload=%7B%22type%22%3A%22block_actions%22%2C"
            b"%22actions%22%3A%5B%7B%22action_id%22%3A%22approve%22%2C%22value%22%3A%22x%22%7D%5D%7D"]
)
def test_a_malformed_callback_is_refused_cleanly(client, slack, raw):
    response = press(client, slack, user_id="U0MANAGER", task_id=1, raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_someone_else_pressing_approve_changes_nothing(
    client, gadget, requester, slack_manager, outsider, slack
):
    outsider.slack_user_id = "U0OSCAR"
    outsider.save()
    request = submit(requester)
    task = open_task(request)
    response = press(client, slack, user_id="U0OSCAR", task_id=task.pk)
    assert response.status_code == 200
    assert response.json()["ok"] is False
    task.refresh_from_db()
    assert task.state == "open"
    [answer] = [r.json for r in slack.received if r.path == "/response"]
    assert "Nothing was changed" in answer["text"]


def test_an_unknown_slack_user_changes_nothing(client, gadget, requester, slack_manager, slack):
    request = submit(requester)
    task = open_task(request)
    response = press(client, slack, user_id="U0NOBODY", task_id=task.pk)
    assert response.status_code == 200 and response.json()["ok"] is False
    task.refresh_from_db()
    assert task.state == "open"


def test_without_a_signing_secret_the_endpoint_is_off(client, settings):
    settings.SLACK_SIGNING_SECRET = ""
    response = client.post(URL, {"payload": "{}"})
    assert response.status_code == 503


def test_an_incoming_webhook_works_without_a_bot_token(
    gadget, requester, manager, slack, settings, committed
):
    settings.SLACK_BOT_TOKEN = ""
    settings.SLACK_WEBHOOK_URL = slack.url + "/hook"
    manager.notification_channels = ["slack"]
    manager.save()
    with committed():
        submit(requester)
    [got] = [r for r in slack.received if r.path == "/hook"]
    assert "(for Bob Manager)" in got.json["text"]
    assert any(b["type"] == "actions" for b in got.json["blocks"])


def test_the_interactivity_url_is_routed():
    assert reverse("notifications:slack_interactions") == URL
