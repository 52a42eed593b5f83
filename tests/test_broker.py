"""config.broker: kombu's Redis transport keeping one client per channel. The messages
in Redis are the stock transport's, byte for byte but for their ids; the client is
made once per pool, and again when the pool is dropped or Redis comes back. Against
a Redis this test starts itself (never the shared one)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kombu import Connection

from config import broker
from config.celery import app
from tests.own_redis import REDIS_SERVER, OwnRedis, own_redis_started

pytestmark = pytest.mark.skipif(
    not REDIS_SERVER,
    reason="redis-server is not installed: this test starts and stops a Redis of its own",
)

OURS = "config.broker:Transport"
STOCK = "redis"


@pytest.fixture(scope="module")
def own_redis() -> Iterator[OwnRedis]:
    server = own_redis_started()
    yield server
    server.stop()


@pytest.fixture
def clients_made(monkeypatch) -> list[Any]:
    made: list[Any] = []
    create = broker.Channel._create_client

    def spy(self: Any, asynchronous: bool = False) -> Any:
        client = create(self, asynchronous)
        if not asynchronous:
            made.append(client)
        return client

    monkeypatch.setattr(broker.Channel, "_create_client", spy)
    return made


def url(server: OwnRedis) -> str:
    return f"redis://127.0.0.1:{server.port}/0"


def sent_through(server: OwnRedis, transport: str, ids: list[list[int]]) -> list[dict[str, Any]]:
    """The messages that ``deliver_outbox_many.apply_async((ids,))`` leaves in Redis,
    published with Celery's own producer on a connection of ``transport``, oldest
    first."""
    from approvals.tasks import deliver_outbox_many

    store = redis.Redis.from_url(url(server))
    store.flushdb()
    with Connection(url(server), transport=transport) as conn:
        producer = app.amqp.Producer(conn)
        for chunk in ids:
            deliver_outbox_many.apply_async((chunk,), producer=producer)
    raw = store.lrange("celery", 0, -1)
    store.flushdb()
    return [json.loads(m) for m in reversed(raw)]


def without_ids(message: dict[str, Any]) -> dict[str, Any]:
    """A message with what differs from one publish to the next (its uuids) blanked."""
    message = json.loads(json.dumps(message))
    for key in ("id", "root_id"):
        message["headers"][key] = "-"
    for key in ("correlation_id", "delivery_tag", "reply_to"):
        message["properties"][key] = "-"
    return message


def test_messages_are_those_of_kombus_own_redis_transport(own_redis, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    ours = sent_through(own_redis, OURS, [[1, 2], [3]])
    stock = sent_through(own_redis, STOCK, [[1, 2], [3]])
    assert len(ours) == len(stock) == 2
    assert [without_ids(m) for m in ours] == [without_ids(m) for m in stock]
    assert ours[0]["headers"]["task"] == "approvals.tasks.deliver_outbox_many"
    assert ours[0]["headers"]["argsrepr"] == "([1, 2],)"


def test_a_channel_publishes_with_one_client(own_redis, clients_made):
    with Connection(url(own_redis), transport=OURS) as conn:
        channel = conn.default_channel
        producer = conn.Producer(channel)
        for n in range(3):
            producer.publish({"n": n}, routing_key="broker-test")
        assert len(clients_made) == 1
        assert redis.Redis.from_url(url(own_redis)).llen("broker-test") == 3


def test_a_new_pool_gets_a_new_client(own_redis, clients_made):
    with Connection(url(own_redis), transport=OURS) as conn:
        channel = conn.default_channel
        producer = conn.Producer(channel)
        producer.publish({"n": 1}, routing_key="broker-test-pool")
        channel._disconnect_pools()  # what kombu does after a fork
        producer.publish({"n": 2}, routing_key="broker-test-pool")
        assert len(clients_made) == 2
        assert clients_made[0].connection_pool is not clients_made[1].connection_pool
        assert clients_made[1].connection_pool is channel.pool
    assert redis.Redis.from_url(url(own_redis)).llen("broker-test-pool") == 2


def test_the_kept_client_publishes_again_after_redis_comes_back(own_redis, clients_made):
    with Connection(url(own_redis), transport=OURS) as conn:
        producer = conn.Producer(conn.default_channel)
        producer.publish({"n": 1}, routing_key="broker-test-restart")
        own_redis.stop()
        with pytest.raises(Exception):  # noqa: B017 - kombu and redis raise several kinds
            producer.publish({"n": 2}, routing_key="broker-test-restart")
        own_redis.start()  # without persistence: the first message is gone with it
        producer.publish({"n": 3}, routing_key="broker-test-restart")
        assert len(clients_made) == 1
    left = redis.Redis.from_url(url(own_redis)).lrange("broker-test-restart", 0, -1)
    assert [json.loads(base64.b64decode(json.loads(m)["body"])) for m in left] == [{"n": 3}]


def test_settings_name_it_for_redis_brokers_only(settings):
    if settings.CELERY_BROKER_URL.startswith("redis://"):
        assert settings.CELERY_BROKER_TRANSPORT == OURS
    else:
        assert not hasattr(settings, "CELERY_BROKER_TRANSPORT")


def test_a_port_another_tests_redis_answers_on_is_refused(own_redis):
    # Tests on other xdist workers start servers too: answering PING is not enough.
    second = OwnRedis(own_redis.port)
    with pytest.raises(RuntimeError, match="is taken"):
        second.start()
    second.stop()
