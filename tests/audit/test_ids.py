"""Audit event ids are time-ordered (version 7) UUIDs: events written one after
another get neighbouring ids, so inserts add to the right-hand pages of the
primary key's index instead of random ones."""

from __future__ import annotations

import time
import uuid

import pytest
from django.db import transaction

from audit.models import AuditEvent, time_ordered_uuid
from audit.services import Actor, record_event


def test_the_id_is_a_version_7_uuid_with_the_time_in_front():
    before = time.time_ns() // 1_000_000
    made = time_ordered_uuid()
    after = time.time_ns() // 1_000_000
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_ids_made_in_later_milliseconds_sort_later_and_never_repeat(monkeypatch):
    clock = iter(range(1_700_000_000_000_000_000, 1_700_000_001_000_000_000, 1_000_000))
    monkeypatch.setattr(time, "time_ns", lambda: next(clock))
    ids = [time_ordered_uuid() for _ in range(500)]
    assert ids == sorted(ids)
    assert len({time_ordered_uuid() for _ in range(500)} | set(ids)) == 1000


@pytest.mark.django_db
def test_the_engines_events_get_them_in_the_order_they_were_written():
    written = []
    for n in range(3):
        with transaction.atomic():
            record_event(event_type="workflow_published", actor=Actor("system"),
                         workflow_key="ids", payload={"n": n})
        time.sleep(0.002)
    written = list(AuditEvent.objects.filter(chain="workflow:ids").order_by("seq"))
    assert [e.id.version for e in written] == [7, 7, 7]
    assert [e.id for e in written] == sorted(e.id for e in written)
