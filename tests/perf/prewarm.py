"""Read the perf database into memory before the benchmarks (the page cache, or
PostgreSQL's buffers where they hold it), as a database server that has run a while
has it (pg_prewarm, PostgreSQL's contrib).

Right after ``generate_data`` (or a reboot, or on a machine whose page cache was
dropped) most of the 25 GB is on disk only, and the first runs measure the disk: the
eighth round's first decide in-process took p50 10.3 ms with a third of the CPU in
I/O wait, 6.5 ms once read. Every table and index is read except the audit trail's
heap (14 GB at full scale), of which only the last ``--audit-tail-mb`` (the recent
events: those of open requests, which the request documents read) is, and the
archive's heap (the generator writes none). TOAST tables are not read (the engine's
JSON documents are small enough to stay in their rows).

Where the server's ``shared_buffers`` holds all of that, it is read into PostgreSQL's
own buffers instead (``--mode buffer``): the eighth round's machine gave its page cache
back within a minute (docs/PERFORMANCE.md, finding 14), so with the default 128 MB of
buffers the benchmarks read from disk again as they ran. The audit heap's tail is
read first, so where the buffers are too small the indexes, read last, stay.
Run: DATABASE_URL=... python -m tests.perf.prewarm [--audit-tail-mb 1024] [--mode read|buffer]
"""

from __future__ import annotations

import argparse
import time

from tests.perf import common

common.setup()

from django.db import connection  # noqa: E402

AUDIT_HEAPS = ("audit_auditevent", "audit_archivedevent")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--audit-tail-mb", type=int, default=1024)
    parser.add_argument("--mode", choices=["read", "buffer"], default=None,
                        help="the page cache (read) or PostgreSQL's buffers (buffer); "
                        "default: buffer where shared_buffers holds what is read")
    args = parser.parse_args()
    start = time.perf_counter()
    tail = args.audit_tail_mb * 1024 * 1024 // 8192
    relations = (
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'm') "
        "AND NOT (c.relname = ANY(%s)) AND pg_relation_size(c.oid) > 0"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT setting::bigint * 8192 FROM pg_settings WHERE name = 'shared_buffers'"
        )
        buffers = cursor.fetchone()[0]
        cursor.execute(
            f"SELECT coalesce(sum(pg_relation_size(c.oid)), 0) {relations}",
            [list(AUDIT_HEAPS)],
        )
        wanted = cursor.fetchone()[0] + tail * 8192
        mode = args.mode or ("buffer" if buffers >= wanted else "read")
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        cursor.execute(
            "SELECT coalesce(pg_prewarm('audit_auditevent', %s, 'main', "
            "greatest(0, pg_relation_size('audit_auditevent') / 8192 - %s)), 0) "
            "WHERE pg_relation_size('audit_auditevent') > 0",
            [mode, tail],
        )
        row = cursor.fetchone()
        blocks = row[0] if row else 0
        cursor.execute(
            f"SELECT coalesce(sum(pg_prewarm(c.oid, %s)), 0) {relations}",
            [mode, list(AUDIT_HEAPS)],
        )
        blocks += cursor.fetchone()[0]
    print(f"prewarm: {blocks * 8192 / 2**30:.1f} GB read ({mode}; shared_buffers "
          f"{buffers / 2**30:.1f} GB) in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
