"""Redis stopped while decisions are made: every decision succeeds, and every message
arrives, once, after Redis is back. A real Celery worker against a Redis this test
starts and stops itself (never the shared one)."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connections

from approvals import services
from approvals.notifications import delivery, handoff
from approvals.notifications.models import Outbox, WebhookSubscription
from config.celery import app
from tests.notifications.flows import GADGET, open_task, publish, submit
from tests.own_redis import REDIS_SERVER, redis_broker  # noqa: F401 (a fixture)

pytestmark = [
    pytest.mark.skipif(
        not REDIS_SERVER,
        reason="redis-server is not installed: this test starts and stops a Redis of its own",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_decisions_go_on_while_redis_is_down_and_every_message_arrives_once_it_is_back(
    redis_broker, receiver, admins_role, requester, manager  # noqa: F811 (the fixture)
):
    publish(GADGET)
    WebhookSubscription.objects.create(name="erp", url=receiver.url + "/hook",
                                       secret=receiver.secret)
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING",
                      shutdown_timeout=10):
        # Broker up: delivered by the worker through Redis.
        first = submit(requester)
        assert len(receiver.wait_for(1)) == 1

        redis_broker.stop()
        started = time.monotonic()
        second = submit(requester)
        third = submit(requester)
        services.decide(task_id=open_task(first).pk, actor=manager, decision="approve")
        services.decide(task_id=open_task(second).pk, actor=manager, decision="reject",
                        comment="Not this quarter")
        assert time.monotonic() - started < 15  # a dead broker costs one refused connection
        assert handoff.drain(15)  # the hand-off thread has met the dead broker too
        for request in (first, second, third):
            request.refresh_from_db()
        assert [first.state, second.state, third.state] == ["approved", "rejected", "pending"]
        waiting = Outbox.objects.filter(state="pending")
        assert waiting.count() >= 4
        assert any("broker unavailable" in row.last_error for row in waiting)

        redis_broker.start()
        result = delivery.requeue()  # what beat runs every minute
        assert result.queued == result.due >= 4
        expected = Outbox.objects.filter(channel="webhook").count()
        deadline = time.monotonic() + 30
        while Outbox.objects.exclude(state="sent").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        got = receiver.wait_for(expected, timeout=30)

    keys = Counter(r.headers["idempotency-key"] for r in got)
    assert len(got) == expected and set(keys.values()) == {1}  # every message once
    assert set(Outbox.objects.values_list("state", flat=True)) == {"sent"}
    events = Counter(a["event"] for a in receiver.accepted)
    assert events == {"task_assigned": 3, "request_finished": 2}
    connections.close_all()
