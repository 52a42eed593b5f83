"""The inbox's time words: exactly what Django's timesince and timeuntil say."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation
from django.utils.timesince import timesince, timeuntil

from approvals.views.elapsed import Elapsed

PARIS = ZoneInfo("Europe/Paris")


def spans(seed: int, n: int) -> list[timedelta]:
    """From a few seconds to several years, with and without microseconds."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        scale = rng.choice([60, 3600, 86400, 7 * 86400, 40 * 86400, 400 * 86400, 4000 * 86400])
        out.append(timedelta(seconds=rng.uniform(0, scale)))
        out.append(timedelta(seconds=rng.randrange(scale)))  # whole seconds, minute edges
    return out


# Month ends, leap days, the same day at another time, year ends.
NOWS = [
    datetime(2026, 11, 22, 8, 30, 15, 250_000, tzinfo=UTC),
    datetime(2024, 2, 29, 0, 0, tzinfo=UTC),
    datetime(2025, 3, 1, 0, 0, 30, tzinfo=UTC),
    datetime(2025, 1, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(2025, 12, 31, 12, 0, tzinfo=UTC),
]
EDGES = [timedelta(0), timedelta(microseconds=1), timedelta(seconds=59),
         timedelta(minutes=1), timedelta(days=27, hours=23, minutes=59, seconds=59),
         timedelta(days=28, microseconds=-1), timedelta(days=28), timedelta(days=29),
         timedelta(days=30), timedelta(days=31), timedelta(days=365), timedelta(days=366)]


@pytest.mark.parametrize("now", NOWS)
def test_since_and_until_are_timesince_and_timeuntil(now):
    elapsed = Elapsed(now)
    for i, span in enumerate(spans(seed=now.day, n=400) + EDGES):
        for d in (now - span, now + span):
            d = d.astimezone(PARIS) if i % 3 == 0 else d  # another zone: compared in d's
            assert elapsed.since(d) == timesince(d, now), (now, d)
            assert elapsed.until(d) == timeuntil(d, now), (now, d)


def test_the_words_are_those_of_the_active_language():
    now = NOWS[0]
    d = now - timedelta(days=9, hours=2)
    assert Elapsed(now).since(d) == "1\xa0week, 2\xa0days"
    with translation.override("de"):
        assert Elapsed(now).since(d) == timesince(d, now) != "1\xa0week, 2\xa0days"
    with translation.override("fr"):
        assert Elapsed(now).until(now + timedelta(hours=5)) == timeuntil(
            now + timedelta(hours=5), now
        )
