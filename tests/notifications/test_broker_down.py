"""Redis stopped while decisions are made: every decision succeeds, and every message
arrives, once, after Redis is back. A real Celery worker against a Redis this test
starts and stops itself (never the shared one)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from collections import Counter

import kombu.pools
import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connections

from approvals import services
from approvals.notifications import delivery
from approvals.notifications.models import Outbox, WebhookSubscription
from config.celery import app
from tests.notifications.flows import GADGET, open_task, publish, submit

REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.skipif(
        not REDIS_SERVER,
        reason="redis-server is not installed: this test starts and stops a Redis of its own",
    ),
    pytest.mark.django_db(transaction=True),
]


def spare_port() -> int:
    # In random order: tests on other xdist workers start Redis servers of their own too.
    for port in random.sample(range(6391, 6400), 9):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no spare port in 6391-6399")


class OwnRedis:
    """A redis-server on a spare port, without persistence, that this test controls."""

    def __init__(self, port: int):
        self.port = port
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        s.sendall(b"INFO server\r\n")
                        info = b""
                        while b"process_id:" not in info or not info.endswith(b"\r\n"):
                            chunk = s.recv(65536)
                            if not chunk:
                                raise OSError("closed")
                            info += chunk
                        if f"process_id:{self.proc.pid}\r".encode() not in info:
                            # Another test's server (another xdist worker) answered.
                            raise RuntimeError(f"port {self.port} is taken")
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def reset_broker_connections() -> None:
    # The Celery app keeps pooled connections to the broker it used before; its producer
    # pool is kombu's, kept in kombu's global pools by broker URL (a later test that
    # happens to get the same port would be handed the closed one).
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    kombu.pools.reset()
    delivery._broker_down_until = 0.0


@pytest.fixture
def redis_broker(settings, monkeypatch):
    redis = OwnRedis(spare_port())
    redis.start()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{redis.port}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    # The Celery app read its broker from the settings once, and Celery prefers the
    # CELERY_BROKER_URL environment variable (CI sets it) over any configuration: both
    # must name this test's Redis, or it would use the shared one it never stops.
    monkeypatch.setenv("CELERY_BROKER_URL", settings.CELERY_BROKER_URL)
    saved = {key: app.conf[key] for key in
             ("broker_url", "broker_transport", "broker_transport_options", "task_always_eager")}
    # The transport settings.py names for a redis:// broker (config/broker.py), whatever
    # broker this test run was configured with.
    app.conf.update(broker_url=settings.CELERY_BROKER_URL,
                    broker_transport="config.broker:Transport",
                    broker_transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
                    task_always_eager=False)
    reset_broker_connections()
    yield redis
    redis.stop()
    app.conf.update(saved)
    reset_broker_connections()


def test_decisions_go_on_while_redis_is_down_and_every_message_arrives_once_it_is_back(
    redis_broker, receiver, admins_role, requester, manager
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
