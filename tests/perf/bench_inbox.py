"""The inbox page (HTML) and the inbox API for a person with 120 open tasks.

Prints the queries per request for 10 and 120 tasks (in-process, must not grow with
the tasks), the CPU time per request in-process (robust to a loaded machine, unlike
latency), then p50/p95/p99 over HTTP calls against gunicorn. Two "floor" rows measure
what every request pays whatever the inbox does (session or token, user, navigation,
base template): the empty inbox of bench_requester and the API with one row.
Run: DATABASE_URL=... python -m tests.perf.bench_inbox [--calls 1000] [--cpu-calls 200]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from tests.perf import common

common.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from approvals import selectors  # noqa: E402
from orgchart.models import Person  # noqa: E402

PAGE = "/"
PAGE_3 = "/?page=3"
API = "/api/v1/tasks/"
API_ALL = "/api/v1/tasks/?page_size=200"
API_ONE = "/api/v1/tasks/?page_size=1"


def query_counts(people: list[Person]) -> list[dict[str, object]]:
    rows = []
    for person in people:
        tasks = selectors.inbox_for(person).count()
        client = DjangoClient(HTTP_HOST="127.0.0.1")
        client.force_login(person)
        for name, path in (("page", PAGE), ("page", PAGE_3), ("API", API), ("API", API_ALL)):
            client.get(path)  # warm caches (recipes, content types)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            rows.append({"person": person.username, "open tasks": tasks,
                         "endpoint": f"{name} {path}", "queries": len(ctx.captured_queries)})
    return rows


def explain_inbox(person: Person) -> str:
    """EXPLAIN ANALYZE of the queries on tasks that a page request runs, as it ran them
    (the prepared ones as EXECUTE of their statement: the plan PostgreSQL keeps)."""
    client = DjangoClient(HTTP_HOST="127.0.0.1")
    client.force_login(person)
    client.get(PAGE)
    with CaptureQueriesContext(connection) as ctx:
        client.get(PAGE)
    plans = []
    with connection.cursor() as cursor:
        for query in ctx.captured_queries:
            if '"approvals_task"' not in query["sql"] and not query["sql"].startswith("EXECUTE"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            plans.append(f"-- {query['sql'][:120]}...\n{plan}")
    return "\n\n".join(plans)


class InProcess:
    """GET through Django's WSGI handler in this process, to read the CPU time of a request
    (no network, no test-client instrumentation)."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()

    def get(self, path: str, headers: dict[str, str]) -> bytes:
        route, _, query = path.partition("?")
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": route, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
            "wsgi.input": io.BytesIO(b""), "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            **headers,
        }
        status: list[str] = []
        body = b"".join(self.handler(environ, lambda s, h, e=None: status.append(s)))
        assert status[0].startswith("200"), (path, status)
        return body

    def cpu_ms(self, call: Callable[[], Any], n: int) -> dict[str, float]:
        for _ in range(10):
            call()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(n):
            call()
        return {
            "cpu ms/request": (time.process_time() - cpu) * 1000 / n,
            "wall ms/request": (time.perf_counter() - wall) * 1000 / n,
        }


def endpoints(inbox: Person, empty: Person) -> list[tuple[str, dict[str, str], str]]:
    """(name, HTTP headers, path): what is measured in-process and over HTTP."""
    page = {"Cookie": common.session_cookie_for(inbox)}
    api = {"Authorization": f"Token {common.token_for(inbox)}"}
    return [
        ("inbox page (HTML)", page, PAGE),
        ("inbox page 3 (HTML)", page, PAGE_3),
        ("inbox API, 50 a page (JSON)", api, API),
        ("inbox API, page_size=200 (JSON)", api, API_ALL),
        ("floor: empty inbox page", {"Cookie": common.session_cookie_for(empty)}, PAGE),
        ("floor: API, 1 row", api, API_ONE),
    ]


def as_environ(headers: dict[str, str]) -> dict[str, str]:
    return {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--cpu-calls", type=int, default=200)
    args = parser.parse_args()
    inbox = Person.objects.get(username="bench_inbox")
    small = Person.objects.get(username="bench_small")
    empty = Person.objects.get(username="bench_requester")
    common.print_table("Queries per inbox request (in-process)", query_counts([small, inbox]))
    print("\nEXPLAIN ANALYZE of the inbox page's queries (bench_inbox):\n")
    print(explain_inbox(inbox))

    measured = endpoints(inbox, empty)
    common.collectstatic({**os.environ})  # DEBUG off: pages name the manifest's files
    local = InProcess()
    rows = []
    for name, headers, path in measured:
        environ = as_environ(headers)
        body = local.get(path, environ)
        rows.append({"endpoint": name, "bytes": len(body),
                     **local.cpu_ms(lambda p=path, e=environ: local.get(p, e), args.cpu_calls)})
    common.print_table(
        f"In-process through the WSGI handler, {args.cpu_calls} calls; {common.machine()}", rows
    )

    rows = []
    with common.gunicorn(workers=3) as base:
        print(f"\ngunicorn at {base}; {common.machine()}")
        for name, headers, path in measured:
            client = common.Client(headers)
            status, body = client.request("GET", path)
            assert status == 200, (name, status, body[:300])

            def call(client: common.Client = client, path: str = path) -> None:
                status, _ = client.request("GET", path)
                assert status == 200

            samples = common.timed(call, args.calls, warmup=20)
            rows.append({"endpoint": name, "bytes": len(body), **common.percentiles(samples)})
    common.print_table(f"Inbox over HTTP, bench_inbox, {args.calls} calls (ms)", rows)


if __name__ == "__main__":
    main()
