"""audit.services.deferred: a service's events written together at the end of its block,
in the order and with the content they had when they were appended."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import Actor, append_event, deferred, record_event
from audit.verify import verify_all

from .conftest import new_request
from .test_heads import Oops, assert_gapless, audit_statements

pytestmark = pytest.mark.django_db


@pytest.fixture
def order(purchase_order, requester):
    return new_request(purchase_order, requester, {"amount": "1200.00"})


def fields(request, event_type: str, **payload) -> dict:
    return {
        "event_type": event_type,
        "actor": Actor(user="requester", via="web"),
        "request_id": request.pk,
        "workflow_key": request.workflow.key,
        "workflow_version": request.workflow_version.number,
        "payload": payload,
    }


def types_of(request) -> list[str]:
    return list(
        AuditEvent.objects.filter(request_id=request.pk).order_by("seq")
        .values_list("event_type", flat=True)
    )


def test_a_blocks_events_are_one_insert_at_its_end_in_order(order):
    before = types_of(order)
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        with deferred():
            for kind in ("comment_added", "attachment_added", "comment_added"):
                append_event(**fields(order, kind))
            assert types_of(order) == before  # nothing written yet
        _, inserts = audit_statements(ctx.captured_queries)
    assert len(inserts) == 1
    assert types_of(order) == [*before, "comment_added", "attachment_added", "comment_added"]
    assert_gapless(order)
    assert verify_all().ok


def test_an_event_keeps_its_time_and_content_from_when_it_was_appended(order):
    payload = {"text": "first words"}
    with transaction.atomic(), deferred():
        append_event(**{**fields(order, "comment_added"), "payload": payload})
        appended = timezone.now()
        payload["text"] = "changed later"  # the caller's dict, changed after the append
        later = timezone.now() + timedelta(seconds=5)
        append_event(**{**fields(order, "comment_added"), "at": later})
    first, second = AuditEvent.objects.filter(request_id=order.pk).order_by("-seq")[:2][::-1]
    assert first.payload == {"text": "first words"}
    assert first.at <= appended
    assert second.at == later


def test_a_block_that_raises_writes_none_of_its_events(order):
    before = types_of(order)
    with transaction.atomic():
        with deferred():
            append_event(**fields(order, "comment_added"))
        try:
            with transaction.atomic(), deferred():
                append_event(**fields(order, "attachment_added"))
                raise Oops
        except Oops:
            pass
        with deferred():
            append_event(**fields(order, "request_cancelled"))
    assert types_of(order) == [*before, "comment_added", "request_cancelled"]
    assert_gapless(order)


def test_other_writes_meanwhile_keep_each_chain_in_the_order_of_its_events(order):
    before = types_of(order)
    with transaction.atomic(), deferred():
        append_event(**fields(order, "comment_added", n=1))
        record_event(**fields(order, "comment_added", n=2))  # written now, after n=1
        append_event(**fields(order, "comment_added", n=3))
        with deferred():  # opening a nested block writes n=3 first
            append_event(**fields(order, "comment_added", n=4))
        append_event(**fields(order, "comment_added", n=5))
    numbers = [
        e.payload["n"] for e in AuditEvent.objects.filter(request_id=order.pk).order_by("seq")
        if e.payload.get("n")
    ]
    assert numbers == [1, 2, 3, 4, 5]
    assert len(types_of(order)) == len(before) + 5
    assert_gapless(order)


def test_outside_a_block_an_append_is_written_at_once(order):
    with transaction.atomic():
        append_event(**fields(order, "comment_added", n=1))
        assert AuditEvent.objects.filter(request_id=order.pk, payload__n=1).exists()


@pytest.mark.django_db(transaction=True)
def test_an_append_outside_a_transaction_is_refused(order):
    with deferred(), pytest.raises(RuntimeError, match="inside the caller's transaction"):
        append_event(**fields(order, "comment_added"))
