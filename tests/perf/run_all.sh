#!/usr/bin/env bash
# Run every benchmark against the perf database, one after another, printing tables.
# Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/approvals_perf bash tests/perf/run_all.sh
# (the data: .venv/bin/python manage.py generate_data --scale 0.1 on that empty database)
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DATABASE_URL:?set DATABASE_URL to the perf database (PostgreSQL)}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-redis://127.0.0.1:6379/8}"
py=.venv/bin/python
echo "# $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GB, $($py -V)"
# The data into the page cache first, as a server that has run a while has it.
$py -m tests.perf.prewarm || echo "prewarm skipped (pg_prewarm needs a superuser and PostgreSQL's contrib)"
# Read-only benchmarks first; the writers (decide, sweep) change the data they run on.
$py -m tests.perf.bench_inbox "$@"
$py -m tests.perf.bench_audit
$py -m tests.perf.bench_notify
$py -m tests.perf.bench_write
$py -m tests.perf.bench_sla
