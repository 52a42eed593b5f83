"""The project's settings, with one more URL: ``POST /perf/floor/`` (tests/perf/floor_urls.py).

Used only by ``bench_write --floor``, for the gunicorn it starts: what the same HTTP
stack costs with no decision behind it.
"""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.perf.floor_urls"
