"""The after-commit hand-off writes the ``argsrepr`` and ``kwargsrepr`` headers itself
(``delivery._reprs``): they must be what Celery's ``saferepr`` writes, and Celery must
still write them for anything the hand-off does not recognise."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from celery.signals import before_task_publish
from celery.utils.saferepr import saferepr
from django.utils import timezone

from approvals.notifications import delivery
from config.celery import app
from tests.own_redis import REDIS_SERVER, redis_broker  # noqa: F401


def celery_reprs(args: tuple[Any, ...]) -> dict[str, str]:
    levels = app.conf.task_repr_maxlevels
    return {
        "argsrepr": saferepr(args, app.amqp.argsrepr_maxsize, maxlevels=levels),
        "kwargsrepr": saferepr({}, app.amqp.kwargsrepr_maxsize, maxlevels=levels),
    }


def id_lists() -> list[list[int]]:
    picks = random.Random(8)
    lists = [[1], [0], [2**63 - 1], [1, 2]]
    for size in (2, 5, 20, 21, 40, 60, 200):
        for top in (10**3, 10**9, 2**63 - 1):
            lists.append([picks.randint(1, top) for _ in range(size)])
    return lists


def test_the_hand_offs_reprs_are_what_celery_writes():
    used = 0
    for ids in id_lists():
        for args in ((ids,), (ids[0],)):
            mine = delivery._reprs(args)
            if mine:
                used += 1
                assert mine == celery_reprs(args), args
    assert used > 40


def test_a_full_chunk_of_large_ids_gets_its_reprs_from_the_hand_off(settings):
    ids = [2**63 - 1 - n for n in range(settings.NOTIFY_HANDOFF_CHUNK)]
    assert delivery._reprs((ids,)) == celery_reprs((ids,))


@pytest.mark.parametrize(
    "args",
    [([7] * 200,), ([True, 2],), (["3"],), ((1, 2),), ([1, [2]],), (True,), ("5",)],
    ids=["long", "bool", "str", "tuple", "nested", "bool-alone", "str-alone"],
)
def test_anything_else_is_left_to_celery(args):
    assert delivery._reprs(args) == {}


@pytest.mark.skipif(not REDIS_SERVER, reason="redis-server is not installed")
def test_the_messages_published_carry_celerys_own_headers(redis_broker):  # noqa: F811
    seen: list[dict[str, Any]] = []

    def keep(sender: str, headers: dict[str, Any], **_: Any) -> None:
        seen.append(headers)

    before_task_publish.connect(keep)
    try:
        now = timezone.now()
        chunk = [(pk, now) for pk in range(900_000_001, 900_000_004)]
        held = [(900_000_009, now + timedelta(hours=1))]
        # Written queued (so nothing is marked afterwards): no database needed.
        assert delivery._hand_over(chunk + held, now, queued=[pk for pk, _ in chunk]) == 4
    finally:
        before_task_publish.disconnect(keep)
    assert [(h["task"], h["argsrepr"], h["kwargsrepr"]) for h in seen] == [
        ("approvals.tasks.deliver_outbox_many",
         celery_reprs(([900_000_001, 900_000_002, 900_000_003],))["argsrepr"], "{}"),
        ("approvals.tasks.deliver_outbox", celery_reprs((900_000_009,))["argsrepr"], "{}"),
    ]
    assert seen[1]["eta"] is not None  # held: delayed until it is due
