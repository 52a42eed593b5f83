"""A message's payload is JSON-ready without writing and reading its text
(notify.json_ready): the very values the json round trip gives."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder

from approvals.choices import RequestState
from approvals.notifications.notify import json_ready


class Shouting(str):
    def __str__(self) -> str:
        return self.upper()


VALUES = [
    "text", "", "Café ☕ \u2028 \x00", 0, -7, 10**30, True, False, None, 1.5, -0.0, 1e-7,
    1e300, math.nan, math.inf, -math.inf,
    datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC),
    datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    datetime(2026, 3, 4, 5, 6, 7, 120, tzinfo=UTC).astimezone(),
    datetime(2026, 3, 4, 5, 6, 7),  # naive
    date(2026, 3, 4), time(5, 6, 7, 1000), timedelta(days=1, seconds=3),
    Decimal("1.50"), uuid.UUID(int=7), RequestState.APPROVED, Shouting("quiet"),
    (1, "a"), [1, [2, [3, {"x": (4,)}]]], {"a": {"b": [None, 1.25, "c"]}},
    {1: "int key"}, {"a": 1, 2: "mixed"}, {True: "bool key"}, {RequestState.PENDING: "enum key"},
    {"when": datetime(2026, 1, 1, tzinfo=UTC), "amount": Decimal("3"), "ids": (1, 2)},
]


def test_json_ready_gives_what_the_json_round_trip_gives():
    for value in VALUES:
        expected = json.loads(json.dumps(value, cls=DjangoJSONEncoder))
        got = json_ready(value)
        # Equal, and spelled the same (nan != nan; 1 == 1.0 == True).
        assert json.dumps(got) == json.dumps(expected), value
        assert repr(got) == repr(expected), value
        assert type(got) is type(expected), value


def test_json_ready_copies_what_it_is_given():
    inputs = {"lines": [{"amount": "1.00"}], "note": "x"}
    ready = json_ready({"request": {"inputs": inputs}})
    ready["request"]["inputs"]["lines"][0]["amount"] = "2.00"
    assert inputs == {"lines": [{"amount": "1.00"}], "note": "x"}


def test_what_json_cannot_hold_fails_as_the_round_trip_does():
    for value in ({"x": object()}, [{1, 2}]):
        try:
            json.dumps(value, cls=DjangoJSONEncoder)
        except TypeError as exc:
            expected = str(exc)
        try:
            json_ready(value)
        except TypeError as exc:
            assert str(exc) == expected
        else:
            raise AssertionError(f"{value!r} was accepted")
