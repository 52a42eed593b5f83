"""After commit, outbox rows go to the broker from a thread of this process, so the
service call that wrote them returns without waiting for the broker.

A Celery publish costs ~0.5 ms of CPU and a Redis round trip, ~10 % of a decision.
Nothing is lost by not waiting for it: the rows are already committed, written
``queued`` (see ``notify._write``). If the process dies before the thread hands them
over, the re-queue sweep takes them as stale queued rows (``OUTBOX_STALE_SECONDS``),
as it does when a process dies right after a commit without the thread.

The thread is started on first use in each process (a forked child starts its
own). Before a process exits (``atexit``) and before a Celery task is reported done
(``task_postrun``), what is waiting is handed over (``drain``), so a command or a
task that notifies does not end with its messages still in memory.

With ``NOTIFY_HANDOFF_THREAD`` off, with Celery eager (no broker: the "hand-off"
runs the delivery itself, which must see the caller's connection and transaction), or
on SQLite (a hand-off the broker refused writes its rows back to ``pending``, and
SQLite takes one writer at a time: the thread's write would meet the next service
call's transaction and fail), the hand-off runs in the committing thread, as before.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque
from collections.abc import Callable

from celery.signals import task_postrun
from django.conf import settings
from django.db import connection, connections

logger = logging.getLogger(__name__)

Job = Callable[[], object]

# How long an exiting process, or a finished Celery task, waits for the thread.
DRAIN_SECONDS = 10.0


class _HandOffThread:
    """One daemon thread per process running the jobs given to it in order."""

    def __init__(self) -> None:
        self._reset()
        # A forked child has none of the parent's threads, and a lock the parent's
        # thread held at the fork would stay held: the child starts afresh (the
        # parent hands its waiting jobs over itself).
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._thread: threading.Thread | None = None
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._unfinished = 0

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="outbox-handoff", daemon=True
                )
                self._thread.start()
            self._jobs.append(job)
            self._unfinished += 1
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._jobs:
                    self._cond.wait()
                job = self._jobs.popleft()
            try:
                job()
            except BaseException:  # never let one hand-off stop the others
                logger.exception("outbox: a hand-off failed; its rows wait for the re-queue sweep")
            finally:
                # A hand-off the broker refused wrote to the database from this thread,
                # on a connection of its own: kept while more jobs wait (a broker outage
                # gives one such write a job), closed when there are none.
                with self._cond:
                    idle = not self._jobs
                if idle:
                    try:
                        connections.close_all()
                    except BaseException:
                        logger.exception("outbox: the hand-off thread's connection")
                with self._cond:
                    self._unfinished -= 1
                    self._cond.notify_all()

    def drain(self, timeout: float = DRAIN_SECONDS) -> bool:
        """Wait until every job given so far in this process has run; False if
        ``timeout`` seconds were not enough."""
        with self._cond:
            return self._cond.wait_for(lambda: self._unfinished == 0, timeout)


_thread = _HandOffThread()


def after_commit(job: Job) -> None:
    """Run ``job`` (a hand-off to the broker; it logs its own failures) on the
    hand-off thread, or here when the thread is off, Celery is eager or the database
    is SQLite (see the module's docstring)."""
    if (
        settings.NOTIFY_HANDOFF_THREAD
        and not settings.CELERY_TASK_ALWAYS_EAGER
        and connection.vendor != "sqlite"
    ):
        _thread.submit(job)
    else:
        job()


def drain(timeout: float = DRAIN_SECONDS) -> bool:
    """Hand over what is waiting in this process before going on; False if it took
    longer than ``timeout`` seconds (the rows then wait for the re-queue sweep)."""
    done = _thread.drain(timeout)
    if not done:
        logger.warning("outbox: hand-offs still waiting after %.0f s", timeout)
    return done


atexit.register(drain)


@task_postrun.connect(weak=False)
def _drain_after_task(**_: object) -> None:
    drain()
