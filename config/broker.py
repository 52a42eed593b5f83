"""The Redis transport for Celery, with one Redis client per channel.

kombu's Redis channel makes a new ``redis.Redis`` client for every message it
publishes (``Channel.conn_or_acquire``); the connection under it comes from the
channel's pool, but building the client builds its table of ~170 response
callbacks each time: ~0.15 ms of CPU of every decision's after-commit hand-off,
as much as the LPUSH itself. A client is a thin, thread-safe front of its pool
(it takes a connection from the pool for each command), so the channel keeps one
for as long as it keeps that pool. Everything else, and so every message, is
kombu's own: ``CELERY_BROKER_TRANSPORT`` names this class only for ``redis://``
brokers (settings.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _sync_client: Any = None
    _sync_client_pool: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        # A new pool (kombu drops it after a fork or a disconnect) gets a new client.
        if self._sync_client is None or self._sync_client_pool is not pool:
            self._sync_client = self._create_client()
            self._sync_client_pool = pool
        yield self._sync_client


class Transport(kombu_redis.Transport):
    Channel = Channel
