"""A Redis of a test's own: a redis-server on a spare port that the test starts and
stops (never the shared one), and the Celery app pointed at it (``redis_broker``)."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time

import kombu.pools
import pytest

from approvals.notifications import delivery
from config.celery import app

REDIS_SERVER = shutil.which("redis-server")


def own_redis_started(tries: int = 5) -> OwnRedis:
    """An OwnRedis on a spare port, started: another port when another test's server
    took the one found spare meanwhile (xdist workers look at the same ports)."""
    for attempt in range(tries):
        redis = OwnRedis(spare_port())
        try:
            redis.start()
        except RuntimeError:
            redis.stop()
            if attempt == tries - 1:
                raise
            continue
        return redis
    raise AssertionError("unreachable")


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
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
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
    redis = own_redis_started()
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{redis.port}/0"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
    # The Celery app read its broker from the settings once, and Celery prefers the
    # CELERY_BROKER_URL environment variable (CI sets it) over any configuration: both
    # must name this test's Redis, or it would use the shared one it never stops.
    monkeypatch.setenv("CELERY_BROKER_URL", settings.CELERY_BROKER_URL)
    saved = {
        key: app.conf[key]
        for key in (
            "broker_url",
            "broker_transport",
            "broker_transport_options",
            "task_always_eager",
        )
    }
    # The transport settings.py names for a redis:// broker (config/broker.py), whatever
    # broker this test run was configured with.
    app.conf.update(
        broker_url=settings.CELERY_BROKER_URL,
        broker_transport="config.broker:Transport",
        broker_transport_options=settings.CELERY_BROKER_TRANSPORT_OPTIONS,
        task_always_eager=False,
    )
    reset_broker_connections()
    yield redis
    redis.stop()
    app.conf.update(saved)
    reset_broker_connections()
