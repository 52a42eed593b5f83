"""The inbox page (HTML) and the inbox API for a person with 120 open tasks.

Prints the queries per page for 10 and 120 tasks (in-process, must not grow with
the tasks), then p50/p95/p99 over 1,000 HTTP calls each against gunicorn.
Run: DATABASE_URL=... python -m tests.perf.bench_inbox [--calls 1000]
"""

from __future__ import annotations

import argparse

from tests.perf import common

common.setup()

from django.db import connection  # noqa: E402
from django.test import Client as DjangoClient  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from approvals import selectors  # noqa: E402
from orgchart.models import Person  # noqa: E402

API = "/api/v1/tasks/?page_size=200"


def query_counts(people: list[Person]) -> list[dict[str, object]]:
    rows = []
    for person in people:
        tasks = selectors.inbox_for(person).count()
        client = DjangoClient(HTTP_HOST="127.0.0.1")
        client.force_login(person)
        for name, path in (("page /", "/"), ("API " + API, API)):
            client.get(path)  # warm caches (recipes, content types)
            with CaptureQueriesContext(connection) as ctx:
                response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            rows.append({"person": person.username, "open tasks": tasks, "endpoint": name,
                         "queries": len(ctx.captured_queries)})
    return rows


def explain_inbox(person: Person) -> str:
    qs = selectors.inbox_for(person).select_related("request__workflow_version")
    return qs.explain(analyze=True, buffers=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    inbox = Person.objects.get(username="bench_inbox")
    small = Person.objects.get(username="bench_small")
    common.print_table("Queries per inbox request (in-process)", query_counts([small, inbox]))
    print("\nEXPLAIN ANALYZE of the inbox query (bench_inbox):\n")
    print(explain_inbox(inbox))

    cookie = common.session_cookie_for(inbox)
    token = common.token_for(inbox)
    rows = []
    with common.gunicorn(workers=3) as base:
        print(f"\ngunicorn at {base}; {common.machine()}")
        page = common.Client({"Cookie": cookie})
        api = common.Client({"Authorization": f"Token {token}"})
        for name, client, path, needle in (
            ("inbox page (HTML)", page, "/", b"</html>"),
            ("inbox API (JSON)", api, API, b'"results"'),
        ):
            status, body = client.request("GET", path)
            assert status == 200 and needle in body, (name, status, body[:300])

            def call(client: common.Client = client, path: str = path) -> None:
                status, _ = client.request("GET", path)
                assert status == 200

            samples = common.timed(call, args.calls, warmup=20)
            rows.append({"endpoint": name, "bytes": len(body), **common.percentiles(samples)})
    common.print_table(f"Inbox over HTTP, bench_inbox, {args.calls} calls (ms)", rows)


if __name__ == "__main__":
    main()
