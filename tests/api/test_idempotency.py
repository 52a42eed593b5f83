"""Idempotency-Key: a repeat replays the first response and does nothing again; the
same key with another body is 409; concurrent repeats execute once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from approvals.api.models import IdempotencyKey
from approvals.models import Comment, Decision, Request
from tests.api.conftest import client_for
from tests.conftest import postgres_only

PO_BODY = {"workflow": "po", "inputs": {"amount": 1200, "vendor": "Acme"}}


def test_a_repeat_returns_the_first_response_and_submits_once(po_workflow, requester):
    client = client_for(requester)
    first = client.post("/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = client.post("/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Request.objects.count() == 1


def test_the_stored_response_is_what_the_orms_update_would_store(scene):
    """``_store`` writes the row with one statement of its own: the same values the
    ORM's ``update`` of the three fields leaves (status, body as JSON, completion time)."""
    before = timezone.now()
    response = scene.client("assignee").post(
        f"/api/v1/tasks/{scene.manager_task.pk}/decision/", {"decision": "approve"},
        format="json", HTTP_IDEMPOTENCY_KEY="store-1",
    )
    assert response.status_code == 200
    row = IdempotencyKey.objects.get(key="store-1")
    expected = IdempotencyKey.objects.get(pk=row.pk)
    IdempotencyKey.objects.filter(pk=row.pk).update(
        status_code=200, response_body=response.data, completed_at=row.completed_at
    )
    expected.refresh_from_db()
    assert (row.status_code, row.response_body, row.completed_at) == (
        expected.status_code, expected.response_body, expected.completed_at
    )
    assert row.response_body == response.json()
    assert before <= row.completed_at <= timezone.now()


def test_without_a_key_each_post_acts(po_workflow, requester):
    client = client_for(requester)
    client.post("/api/v1/requests/", PO_BODY, format="json")
    client.post("/api/v1/requests/", PO_BODY, format="json")
    assert Request.objects.count() == 2


def test_the_same_key_with_another_body_is_409(po_workflow, requester):
    client = client_for(requester)
    client.post("/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = {**PO_BODY, "title": "something else"}
    response = client.post("/api/v1/requests/", other, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Request.objects.count() == 1


def test_the_same_key_on_another_endpoint_is_409(scene):
    client = scene.client("requester")
    rid = scene.request.pk
    client.post(f"/api/v1/requests/{rid}/comments/", {"text": "hi"}, format="json",
                HTTP_IDEMPOTENCY_KEY="k-2")
    response = client.post(f"/api/v1/requests/{rid}/cancel/", {"text": "hi"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="k-2")
    assert response.status_code == 409
    assert scene.request.__class__.objects.get(pk=rid).state == "pending"


def test_keys_belong_to_their_caller(po_workflow, requester, outsider):
    a = client_for(requester).post("/api/v1/requests/", PO_BODY, format="json",
                                   HTTP_IDEMPOTENCY_KEY="shared")
    b = client_for(outsider).post("/api/v1/requests/", PO_BODY, format="json",
                                  HTTP_IDEMPOTENCY_KEY="shared")
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]


def test_an_error_response_is_replayed_too(scene):
    client = scene.client("assignee")
    path = f"/api/v1/tasks/{scene.manager_task.pk}/decision/"
    body = {"decision": "reject"}  # no comment: 400
    first = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    again = client.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")
    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()


def test_a_repeated_decision_replays_200_instead_of_409(scene):
    client = scene.client("assignee")
    path = f"/api/v1/tasks/{scene.manager_task.pk}/decision/"
    first = client.post(path, {"decision": "approve"}, format="json", HTTP_IDEMPOTENCY_KEY="d")
    again = client.post(path, {"decision": "approve"}, format="json", HTTP_IDEMPOTENCY_KEY="d")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert Decision.objects.count() == 1


def test_a_repeated_comment_is_added_once(scene):
    client = scene.client("requester")
    path = f"/api/v1/requests/{scene.request.pk}/comments/"
    for _ in range(3):
        client.post(path, {"text": "ping"}, format="json", HTTP_IDEMPOTENCY_KEY="c")
    assert Comment.objects.count() == 1


def test_after_24_hours_the_key_acts_again(po_workflow, requester):
    client = client_for(requester)
    client.post("/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    response = client.post("/api/v1/requests/", PO_BODY, format="json",
                           HTTP_IDEMPOTENCY_KEY="old")
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers
    assert Request.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "tab\there", "é"])
def test_a_malformed_key_is_400(po_workflow, requester, key):
    response = client_for(requester).post(
        "/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert response.status_code == 400
    assert Request.objects.count() == 0


def test_a_key_still_in_progress_is_409_after_the_wait(po_workflow, requester, settings):
    settings.APPROVALS = {**settings.APPROVALS, "IDEMPOTENCY_WAIT_SECONDS": 0.2}
    client = client_for(requester)
    client.post("/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    # As if the first call were still running: its response is not stored yet.
    IdempotencyKey.objects.update(status_code=None, response_body=None)
    response = client.post("/api/v1/requests/", PO_BODY, format="json",
                           HTTP_IDEMPOTENCY_KEY="slow")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_in_progress"
    assert Request.objects.count() == 1


def _race(n: int, post) -> list:
    """Run ``post`` in n threads released at the same instant; each thread uses (and
    closes) its own database connection."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = post()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_repeats_of_one_key_submit_once(po_workflow, requester):
    assert connection.vendor == "postgresql"

    def post():
        response = client_for(requester).post(
            "/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY="race"
        )
        return response.status_code, response.json()

    results = _race(8, post)
    assert Request.objects.count() == 1
    created = [body for status, body in results if status == 201]
    in_progress = [body for status, body in results if status == 409]
    assert len(created) + len(in_progress) == 8
    assert created and all(body == created[0] for body in created)
    assert all(body["code"] == "idempotency_in_progress" for body in in_progress)
    assert IdempotencyKey.objects.get().status_code == 201


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_with_one_key_decide_once(scene):
    path = f"/api/v1/tasks/{scene.manager_task.pk}/decision/"

    def post():
        response = scene.client("assignee").post(
            path, {"decision": "approve"}, format="json", HTTP_IDEMPOTENCY_KEY="race-d"
        )
        return response.status_code, response.json()

    results = _race(6, post)
    assert Decision.objects.filter(task=scene.manager_task).count() == 1
    # All callers see the first answer (or "in progress"), never a 409 "already decided".
    assert {status for status, _ in results} <= {200, 409}
    assert all(body.get("code") in (None, "idempotency_in_progress") for _, body in results)


def test_beat_purges_the_expired_keys_of_every_caller(po_workflow, requester, outsider, settings):
    """Keys are kept 24 hours; the hourly beat task deletes the older ones of every
    caller, whether or not they post again, and keeps the rest."""
    from approvals import tasks
    from approvals.api import idempotency

    assert settings.CELERY_BEAT_SCHEDULE["purge-idempotency-keys"]["task"] == (
        tasks.purge_idempotency_keys.name
    )
    for person in (requester, outsider):
        client = client_for(person)
        for key in ("a", "b", "c"):
            client.post("/api/v1/requests/", PO_BODY, format="json", HTTP_IDEMPOTENCY_KEY=key)
    IdempotencyKey.objects.exclude(key="c").update(created_at=timezone.now() - timedelta(hours=25))
    assert idempotency.purge_expired(batch=3) == 4  # two statements of 3, then 1, then none
    assert sorted(IdempotencyKey.objects.values_list("owner_id", "key")) == sorted(
        [(requester.pk, "c"), (outsider.pk, "c")]
    )
    assert tasks.purge_idempotency_keys() == 0
    # What is left still replays.
    again = client_for(requester).post("/api/v1/requests/", PO_BODY, format="json",
                                       HTTP_IDEMPOTENCY_KEY="c")
    assert again.headers["Idempotent-Replayed"] == "true"
