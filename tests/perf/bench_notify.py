"""Notification latency: from the commit of a submit to the Slack message arriving
at a local fake Slack (a real HTTP server), through Redis and a Celery worker.

The benchmark starts the fake Slack and a Celery worker (prefork, 2 processes) on
Redis DB 8, points the requester's manager at Slack, submits requests one at a
time and times commit -> chat.postMessage received.
Run: DATABASE_URL=... python -m tests.perf.bench_notify [--n 100]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.notifications.fakes import FakeSlack, Received
from tests.perf import common

BROKER = "redis://127.0.0.1:6379/8"


@dataclass
class TimedSlack(FakeSlack):
    """The fake Slack, noting when each message arrived."""

    arrivals: list[float] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)

    def respond(self, got: Received) -> tuple[int, Any]:
        if got.path == "/api/chat.postMessage":
            self.arrivals.append(time.perf_counter())
            self.arrived.set()
        return super().respond(got)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100)
    args = parser.parse_args()
    slack = TimedSlack().start()
    os.environ.update(SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.api_url,
                      CELERY_BROKER_URL=BROKER)
    common.setup()
    import redis
    from django.db import transaction

    from approvals import services
    from approvals.models import Workflow
    from orgchart.models import Person

    redis.Redis.from_url(BROKER).flushdb()  # our own DB: no stale deliveries from earlier runs
    requester = Person.objects.get(username="bench_requester")
    # Benchmark setup: the approver (the requester's manager) wants Slack.
    Person.objects.filter(pk=requester.manager_id).update(
        notification_channels=["slack"], slack_user_id="UBENCH")
    workflow = Workflow.objects.filter(key__contains="expense", is_active=True).first()
    assert workflow is not None, "no expense workflow: run generate_data first"

    worker = subprocess.Popen(
        [str(common.ROOT / ".venv/bin/celery"), "-A", "config", "worker", "-c", "2",
         "--loglevel", "warning", "--without-gossip", "--without-mingle"],
        cwd=common.ROOT, env={**os.environ}, start_new_session=True,
    )
    samples: list[float] = []
    try:
        time.sleep(4)  # worker boot
        for i in range(args.n + 5):
            before = len(slack.arrivals)
            slack.arrived.clear()
            committed: list[float] = []
            with transaction.atomic():
                # Registered first, so it runs first after COMMIT: the clock starts there.
                transaction.on_commit(lambda c=committed: c.append(time.perf_counter()))
                services.submit(workflow_key=workflow.key, requester=requester,
                                inputs={"amount": f"{100 + i}.00"}, title=f"notify bench {i}")
            deadline = time.monotonic() + 20
            while len(slack.arrivals) <= before and time.monotonic() < deadline:
                slack.arrived.wait(0.5)
            if len(slack.arrivals) <= before:
                raise SystemExit(f"no Slack message within 20 s for submit {i}")
            if i >= 5:  # the first ones warm the worker
                samples.append((slack.arrivals[before] - committed[0]) * 1000)
    finally:
        worker.terminate()  # the master: a warm shutdown stops its children
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        slack.stop()
    title = f"Commit -> Slack message, Redis, Celery prefork x2 ({common.machine()})"
    common.print_table(title, [{"path": "submit -> task_assigned -> Slack chat.postMessage",
                                **common.percentiles(samples)}])


if __name__ == "__main__":
    main()
