"""Teams Adaptive Cards and signed integration webhooks, against local fake receivers;
final failures visible in the admin."""

from __future__ import annotations

import pytest

from approvals import services
from approvals.models import Workflow
from approvals.notifications.models import Outbox, WebhookSubscription
from tests.notifications.flows import open_task, submit

pytestmark = pytest.mark.django_db


def test_teams_gets_an_adaptive_card_with_links(gadget, requester, manager, teams, committed):
    manager.notification_channels = ["teams"]
    manager.save()
    with committed():
        request = submit(requester)
    [got] = teams.received
    assert got.path == "/teams"
    [card] = teams.cards()
    assert card["type"] == "AdaptiveCard"
    texts = [b.get("text", "") for b in card["body"]]
    assert any("asks for your approval" in t for t in texts)
    assert "For Bob Manager" in texts
    titles = [a["title"] for a in card["actions"]]
    assert titles == ["Approve", "Reject", "Request changes", "Open"]
    assert card["actions"][0]["url"].startswith("http://127.0.0.1:8000/n/a/")
    assert card["actions"][3]["url"].endswith(f"/tasks/{open_task(request).pk}/")
    assert Outbox.objects.get(channel="teams").state == "sent"


def test_an_integration_gets_signed_webhooks_for_the_events_it_subscribed(
    gadget, requester, manager, receiver, committed
):
    WebhookSubscription.objects.create(
        name="erp", url=receiver.url + "/hook", secret=receiver.secret,
        workflow=Workflow.objects.get(key="gadget"), events=["request_finished"],
    )
    WebhookSubscription.objects.create(  # another workflow: never called
        name="other", url=receiver.url + "/other", secret=receiver.secret,
        workflow=Workflow.objects.create(key="other", title="Other"),
    )
    with committed():
        request = submit(requester)
    assert receiver.received == []  # task_assigned is not an event it asked for
    with committed():
        services.decide(task_id=open_task(request).pk, actor=manager, decision="approve")
    [got] = receiver.received
    assert got.path == "/hook"
    assert got.headers["x-approvals-event"] == "request_finished"
    assert got.headers["idempotency-key"]
    [event] = receiver.accepted  # the receiver checked the HMAC signature
    assert receiver.refused == []
    assert event["event"] == "request_finished"
    assert event["request"]["id"] == request.pk
    assert event["request"]["state"] == "approved"
    assert event["extra"]["outcome"] == "approved"


def test_a_receiver_with_another_secret_refuses_and_the_row_records_why(
    gadget, requester, manager, receiver, committed
):
    WebhookSubscription.objects.create(name="erp", url=receiver.url + "/hook", secret="wrong")
    with committed():
        submit(requester)
    assert receiver.refused == ["bad signature"]
    row = Outbox.objects.get(channel="webhook")
    assert row.state == "pending"
    assert "HTTP 401" in row.last_error


def test_final_failures_are_visible_and_retryable_in_the_admin(
    client, gadget, requester, manager, grandboss, receiver, settings, committed
):
    settings.OUTBOX_MAX_ATTEMPTS = 1
    receiver.fail_status = 500
    WebhookSubscription.objects.create(name="erp", url=receiver.url + "/hook",
                                       secret=receiver.secret)
    with committed():
        submit(requester)
    row = Outbox.objects.get(channel="webhook")
    assert row.state == "failed"
    grandboss.is_staff = grandboss.is_superuser = True
    grandboss.save()
    client.force_login(grandboss)
    page = client.get("/admin/notifications/outbox/?state__exact=failed")
    assert page.status_code == 200
    assert b"HTTP 500" in page.content

    receiver.fail_status = None
    with committed():
        client.post("/admin/notifications/outbox/", {
            "action": "retry_now", "_selected_action": [row.pk],
        })
    row.refresh_from_db()
    assert row.state == "sent"
    assert len(receiver.accepted) == 1
