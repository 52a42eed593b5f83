"""The writer's normalization (``hashing.normalize``, read back with ``hashing.loads``):
the values ``json.loads`` of the canonical JSON gives, so events hash as they always
did."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal

from approvals.choices import Via
from audit import services
from audit.hashing import canonical_json, normalize
from audit.services import Actor

VALUES = [
    {}, {"a": [1, 2.5, None, True, "Café ☕"]}, {"big": 10**30, "neg": -(10**19)},
    {"tiny": 1e-7, "huge": 1.5e300, "nan": math.nan, "inf": math.inf},
    {"when": datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC), "amount": Decimal("1.50")},
    {"nested": {"z": 1, "a": {"y": [{"b": 2, "a": 1}]}}}, {"surrogate": "\ud800"},
    {1: "int key", 10: "sorted as numbers first", 2: "x"},
]


def test_normalized_values_are_those_the_json_round_trip_gives():
    for value in VALUES:
        got, expected = normalize(value), json.loads(canonical_json(value))
        assert repr(got) == repr(expected), value


def test_actors_are_normalized_once_and_each_event_gets_its_own_copy():
    sla = Actor(user="system", via=Via.SLA)
    first, second = services._actor_dict(sla), services._actor_dict(sla)
    assert first == second == normalize(sla.as_dict())
    assert type(first["via"]) is str
    first["user"] = "changed"
    assert services._actor_dict(sla)["user"] == "system"
    # Equal actors share an entry: their normalized dicts are equal too.
    assert services._actor_dict(Actor(user="system", via="sla")) == second
