"""What the benchmarks share: Django setup on the perf database, timing, tables,
a gunicorn they start and stop themselves, and a keep-alive HTTP client.

Benchmarks run on PostgreSQL only (DATABASE_URL) against data made by
``manage.py generate_data``; each prints a table and exits.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get("PERF_PORT", "8123"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/8")
# One key for this process and the gunicorn it starts, so sessions made here are valid there.
os.environ.setdefault("SECRET_KEY", "perf-bench-secret-key-local-only-0123456789")
# In-process measurements run as production does (DEBUG on records every statement and
# keeps templates' debug information): ~8 % of a sweep's CPU.
os.environ.setdefault("DEBUG", "false")


def setup() -> None:
    """Django on the perf database; refuses anything but PostgreSQL."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("benchmarks run on PostgreSQL: set DATABASE_URL to the perf database")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def warm_recipes() -> str:
    """Parse every workflow version's recipe, as a worker that has run a while has them
    in its cache (a fresh process parses each version it meets once)."""
    from approvals.models import WorkflowVersion

    start = time.perf_counter()
    versions = WorkflowVersion.objects.only("id", "source", "document")
    parsed = sum(1 for v in versions if v.recipe is not None)
    return f"warm-up: {parsed} versions parsed in {time.perf_counter() - start:.1f} s"


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "mean": statistics.fmean(ordered),
    }


def timed(call: Callable[[], Any], n: int, *, warmup: int = 10) -> list[float]:
    for _ in range(warmup):
        call()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """A plain table: one row per measurement, columns from the first row."""
    print(f"\n## {title}\n")
    if not rows:
        print("(nothing measured)")
        return
    cols = list(rows[0])
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("| " + " | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |")
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def machine() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / "
            f"{load[2]:.1f}, speed probe {speed_probe():.0f} ms")


def speed_probe() -> float:
    """Milliseconds for a fixed piece of pure Python (the best of three): machines of
    one kind, and one machine from minute to minute, differ by tens of percent
    (docs/PERFORMANCE.md, finding 10), and a figure means little without this beside
    it. 35 to 38 ms on the seventh round's machine, quiet; 19 to 25 ms on the eighth
    round's, which spent as much CPU or more on a decision: a tight loop stays in the
    core's caches, the application does not, so compare probes of one machine only."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        total = 0
        for i in range(1_000_000):
            total += i
        best = min(best, time.perf_counter() - start)
    return best * 1000


class CpuCensus:
    """Where the machine's CPU went between ``start()`` and ``stop()``: user and system
    time of every process, read from /proc, summed by kind (gunicorn, PostgreSQL,
    Redis, this benchmark process and its client threads, the rest), and the
    machine's busy time (/proc/stat, without steal: time the hypervisor gave to
    others). Each process counts what it spent in between: one started meanwhile all
    of its time, one that ended meanwhile what it spent before ``start()`` not at all
    and what it spent after it is missed (the machine's total has it)."""

    KINDS = ("gunicorn", "postgres", "redis", "client", "other")

    def start(self) -> None:
        self._before, self._machine_before = _cpu_by_process(), _machine_busy()

    def stop(self) -> dict[str, float]:
        after, machine_after = _cpu_by_process(), _machine_busy()
        spent = dict.fromkeys(self.KINDS, 0.0)
        for process, (kind, seconds) in after.items():
            spent[kind] += seconds - self._before.get(process, (kind, 0.0))[1]
        spent["machine"] = machine_after - self._machine_before
        return spent


def _machine_busy() -> float:
    """Seconds of CPU the machine spent busy (all cores), from /proc/stat: user, nice,
    system, irq and softirq (guest time is within user already; steal is not ours)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _cpu_by_process() -> dict[tuple[int, int], tuple[str, float]]:
    """{(pid, start time): (kind, seconds of CPU so far)} of every process: the start
    time tells a process from a later one given the same pid."""
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out: dict[tuple[int, int], tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # gone meanwhile
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2 :].split()  # rest[0] is the stat's third field
        seconds = (int(rest[11]) + int(rest[12])) / tick  # utime, stime
        pid = int(entry.name)
        if pid == me:
            kind = "client"
        elif any(arg.endswith(b"gunicorn") for arg in argv[:2]):  # gunicorn, or python gunicorn
            kind = "gunicorn"
        elif comm.startswith("postgres") or argv[0].startswith(b"postgres"):
            kind = "postgres"
        elif comm.startswith("redis"):
            kind = "redis"
        else:
            kind = "other"
        out[(pid, int(rest[19]))] = (kind, seconds)
    return out


def cpu_row(spent: dict[str, float], calls: int) -> dict[str, Any]:
    """A table row: ms of CPU a call, by kind, and the machine's."""
    per = 1000 / max(1, calls)
    return {f"{kind} ms": seconds * per for kind, seconds in spent.items()}


# --- gunicorn -------------------------------------------------------------------


def collectstatic(env: dict[str, str]) -> None:
    """DEBUG off serves hashed static names from the manifest: collect them first."""
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT, env=env, check=True,
    )


@contextmanager
def gunicorn(workers: int = 3, threads: int = 1, settings: str | None = None) -> Iterator[str]:
    """Run gunicorn on 127.0.0.1:PORT with DEBUG off; yields the base URL; stops it.
    ``settings``: another settings module than the project's."""
    env = {
        **os.environ,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    if settings:
        env["DJANGO_SETTINGS_MODULE"] = settings
    cmd = [
        str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "-w", str(workers),
        "--threads", str(threads), "-b", f"127.0.0.1:{PORT}", "--log-level", "warning",
        "--keep-alive", "30",
    ]
    collectstatic(env)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=0.5).close()
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("gunicorn exited at start") from None
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not listen within 30 s")
        time.sleep(1.0)  # let every worker boot
        yield f"http://127.0.0.1:{PORT}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the group we started: master and workers
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


class Client:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:PORT."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        data = None
        all_headers = {**self.headers, **(headers or {})}
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # the server closed an idle connection: reconnect once
            self.conn.request(method, path, body=data, headers=all_headers)
            response = self.conn.getresponse()
        return response.status, response.read()


def token_for(person: Any) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=person)[0].key


def session_cookie_for(person: Any) -> str:
    """A logged-in session for ``person``, as the login view would make it."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(person.pk)
    store[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0] if getattr(
        settings, "AUTHENTICATION_BACKENDS", None
    ) else "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = person.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}"
