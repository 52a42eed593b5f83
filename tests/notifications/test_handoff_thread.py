"""After commit, outbox rows go to the broker from the process's hand-off thread: the
service call returns without waiting for the broker, nothing is dropped when the
process exits or a Celery task ends, and with Celery eager, the setting off or SQLite
the hand-off runs in the committing thread as before."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import redis
from celery.signals import task_postrun

from approvals import services
from approvals.notifications import delivery, handoff
from approvals.notifications.models import Outbox
from tests.conftest import postgres_only
from tests.notifications.flows import GADGET, open_task, publish, submit
from tests.own_redis import REDIS_SERVER, redis_broker  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def threaded():
    """The hand-off thread itself (``after_commit`` picks it where it may)."""
    yield handoff._thread.submit
    assert handoff.drain(5)


def test_a_job_given_returns_at_once_and_drain_waits_for_it(threaded):
    release, ran = threading.Event(), []

    def job():
        release.wait(5)
        ran.append(threading.current_thread().name)

    threaded(job)
    assert ran == []  # the caller did not wait
    assert handoff.drain(0.05) is False  # still waiting on the broker, say
    release.set()
    assert handoff.drain(5) is True
    assert ran == ["outbox-handoff"]


def test_jobs_run_in_order_and_a_failing_one_does_not_stop_the_next(threaded, caplog):
    ran = []

    def fail():
        raise RuntimeError("broker exploded")

    def exit_():
        raise SystemExit(1)

    threaded(lambda: ran.append(1))
    threaded(fail)
    threaded(exit_)
    threaded(lambda: ran.append(2))
    assert handoff.drain(5)
    assert ran == [1, 2]
    assert "a hand-off failed" in caplog.text


def test_a_finished_celery_task_has_handed_over_what_it_wrote(threaded):
    release, ran = threading.Event(), []
    threaded(lambda: (release.wait(5), ran.append("handed")))
    threading.Timer(0.2, release.set).start()
    task_postrun.send(sender=None, task_id="t", task=None, args=(), kwargs={}, retval=None)
    assert ran == ["handed"]


@pytest.mark.parametrize("why", ["eager", "setting off", "sqlite", "none: the thread"])
def test_after_commit_runs_inline_when_eager_switched_off_or_on_sqlite(
    settings, monkeypatch, why
):
    settings.CELERY_TASK_ALWAYS_EAGER = why == "eager"
    settings.NOTIFY_HANDOFF_THREAD = why != "setting off"
    vendor = "sqlite" if why == "sqlite" else "postgresql"
    monkeypatch.setattr(handoff, "connection", type("C", (), {"vendor": vendor})())
    ran = []
    handoff.after_commit(lambda: ran.append(threading.current_thread().name))
    assert handoff.drain(5)
    where = "outbox-handoff" if why.startswith("none") else threading.current_thread().name
    assert ran == [where]


def test_an_exiting_process_hands_over_what_is_waiting(tmp_path):
    """A command that decides and exits at once: the thread's work is done before the
    interpreter goes (atexit), even when the broker is slow."""
    out = tmp_path / "handed"
    script = (
        "import django, time\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "settings.CELERY_TASK_ALWAYS_EAGER = False\n"
        "from approvals.notifications import handoff\n"
        f"handoff._thread.submit(lambda: (time.sleep(0.5), open({str(out)!r}, 'w').write('ok')))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "NOTIFY_HANDOFF_THREAD": "1"}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)
    assert out.read_text() == "ok"


@pytest.mark.skipif(not REDIS_SERVER, reason="redis-server is not installed")
@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_decision_returns_before_its_message_reaches_redis_which_then_gets_it(
    redis_broker, settings, requester, manager, monkeypatch  # noqa: F811 (the fixture)
):
    settings.NOTIFY_HANDOFF_THREAD = True
    publish(GADGET)
    request = submit(requester)
    assert handoff.drain(5)
    broker = redis.Redis(port=redis_broker.port)
    broker.delete("celery")

    # The broker answers slowly: the decision must not wait for it.
    gate, threads = threading.Event(), []
    hand_over = delivery._hand_over

    def slow_hand_over(*args, **kwargs):
        threads.append(threading.current_thread().name)
        gate.wait(5)
        return hand_over(*args, **kwargs)

    monkeypatch.setattr(delivery, "_hand_over", slow_hand_over)
    services.decide(task_id=open_task(request).pk, actor=manager, decision="approve")
    assert broker.llen("celery") == 0  # decided, committed, and not yet handed over
    gate.set()
    assert handoff.drain(5)
    assert threads == ["outbox-handoff"]
    assert broker.llen("celery") == 1  # request_finished to the requester, one message
    assert set(Outbox.objects.values_list("state", flat=True)) == {"queued"}
