"""The cold tier: archive -> verify -> query round trip, and damaged files named."""

from __future__ import annotations

import gzip
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from audit.archive import archive_events, archive_path
from audit.checkpoints import create_checkpoint
from audit.models import ArchivedEvent, AuditArchive, AuditEvent
from audit.selectors import request_timeline, state_after
from audit.services import Actor, record_event
from audit.verify import verify_all

from .conftest import new_request

LONG_AGO = timedelta(days=800)


@pytest.fixture(autouse=True)
def archive_dir(settings, tmp_path):
    settings.AUDIT_ARCHIVE_DIR = tmp_path / "archive"
    settings.AUDIT_HOT_DAYS = 730
    return settings.AUDIT_ARCHIVE_DIR


@pytest.fixture
def trail(purchase_order, requester, emit):
    """An old request (all archived), one that straddles the window, a recent one."""
    now = timezone.now()
    old = new_request(purchase_order, requester, {"amount": "75000.00", "vendor": "Acme"})
    emit(old, "request_submitted", "requester", at=now - LONG_AGO)
    emit(old, "task_decided", "manager", at=now - LONG_AGO + timedelta(hours=2),
         payload={"decision": "approve", "comment": "fine by me"})
    emit(old, "request_approved", "manager", at=now - LONG_AGO + timedelta(hours=2),
         state="approved")
    straddle = new_request(purchase_order, requester, {"amount": "120.00", "vendor": "Acme"})
    emit(straddle, "request_submitted", "requester", at=now - LONG_AGO)
    emit(straddle, "comment_added", "manager", at=now - timedelta(days=3))
    recent = new_request(purchase_order, requester, {"amount": "60000.00", "vendor": "Acme"})
    emit(recent, "request_submitted", "requester", at=now - timedelta(days=1))
    return {"old": old, "straddle": straddle, "recent": recent}


def test_archive_verify_query_round_trip(client, auditor, trail, emit, archive_dir):
    assert verify_all().ok
    archives = archive_events()
    assert len(archives) == 1
    [archive] = archives
    assert archive.event_count == 4
    assert archive_path(archive).exists()
    assert archive_path(archive).with_name(archive_path(archive).name + ".manifest.json").exists()
    # The old events left the hot table and are in the manifest; the recent stayed.
    assert not AuditEvent.objects.filter(request_id=trail["old"].pk).exists()
    assert ArchivedEvent.objects.filter(request_id=trail["old"].pk).count() == 3
    assert AuditEvent.objects.filter(request_id=trail["straddle"].pk).count() == 1
    # The run is itself on record, in the archive chain.
    run = AuditEvent.objects.get(chain="archive")
    assert run.event_type == "events_archived" and run.payload["event_count"] == 4

    result = verify_all()
    assert result.ok, result.describe()

    # Query covers the archive: the auditor's filters reach archived events, with details.
    client.force_login(auditor)
    body = client.get(
        "/api/v1/audit/",
        {"event_type": "task_decided", "inputs.amount__gte": "50000", "tier": "all"},
    ).json()
    [decided] = body["results"]
    assert decided["request"] == trail["old"].pk and decided["tier"] == "archive"
    assert decided["payload"]["comment"] == "fine by me"
    assert client.get("/api/v1/audit/", {"tier": "hot", "request": trail["old"].pk}).json()[
        "count"
    ] == 0
    csv_body = b"".join(
        client.get("/api/v1/audit/export/", {"request": trail["old"].pk}).streaming_content
    ).decode()
    assert "fine by me" in csv_body and csv_body.count("archive") >= 3

    # Replay spans both tiers.
    timeline = request_timeline(trail["straddle"].pk)
    assert [(e["seq"], e["tier"]) for e in timeline] == [(1, "archive"), (2, "hot")]
    assert state_after(trail["old"].pk, 3)["state"] == "approved"
    assert state_after(trail["old"].pk, 1)["state"] == "pending"

    # A new event on a partly archived chain links to the archived head.
    emit(trail["old"], "comment_added", "requester")
    assert AuditEvent.objects.get(request_id=trail["old"].pk).seq == 4
    create_checkpoint()
    assert verify_all().ok


def test_archive_command_and_verify_command(trail, capsys):
    call_command("audit_archive")
    assert "archived 4 events into 1 files" in capsys.readouterr().out
    call_command("audit_verify")
    assert "OK" in capsys.readouterr().out
    call_command("audit_archive")  # nothing left to move
    assert "archived 0 events" in capsys.readouterr().out


def test_small_batches_split_a_chain_across_files_and_still_verify(trail):
    archives = archive_events(batch_size=2)
    assert [a.event_count for a in archives] == [2, 2]
    assert verify_all().ok


def _rewrite(path, change) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    lines = change(lines)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))


def test_an_altered_archived_event_is_named_with_its_file(trail):
    [archive] = archive_events()
    path = archive_path(archive)
    victim = ArchivedEvent.objects.get(archive=archive, line=2)

    def alter(lines: list[str]) -> list[str]:
        data = json.loads(lines[1])
        data["payload"]["decision"] = "reject"
        lines[1] = json.dumps(data)
        return lines

    _rewrite(path, alter)
    result = verify_all()
    assert not result.ok
    assert result.file == archive.name
    assert result.first_broken == str(victim.id)
    assert "altered" in result.reason


def test_a_truncated_archive_file_is_named_with_the_event_it_lost(trail):
    [archive] = archive_events()
    path = archive_path(archive)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    result = verify_all()
    assert not result.ok and result.file == archive.name
    assert result.first_broken in {str(e.id) for e in ArchivedEvent.objects.all()}


def test_a_missing_archive_file_is_named(trail, client, auditor):
    [archive] = archive_events()
    archive_path(archive).unlink()
    result = verify_all()
    assert not result.ok and result.file == archive.name and "missing" in result.reason
    # Queries still answer from the manifest; details are marked unavailable, not a 500.
    client.force_login(auditor)
    response = client.get("/api/v1/audit/", {"request": trail["old"].pk})
    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert all(e["payload"] is None for e in response.json()["results"])


def test_a_failed_archive_run_moves_nothing_and_leaves_no_file(trail, archive_dir, monkeypatch):
    import audit.archive as archive_module

    def boom(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(archive_module, "record_event", boom)
    with pytest.raises(RuntimeError):
        archive_events()
    assert not ArchivedEvent.objects.exists() and not AuditArchive.objects.exists()
    assert AuditEvent.objects.count() == 6
    assert not [p for p in archive_dir.rglob("*") if p.is_file()]
    assert verify_all().ok


def test_archived_events_keep_visibility(client, outsider, requester, hr_case, emit):
    secret = new_request(hr_case, requester, {"case": "private"})
    emit(secret, "request_submitted", "requester", at=timezone.now() - LONG_AGO)
    archive_events()
    assert ArchivedEvent.objects.filter(request_id=secret.pk).exists()
    client.force_login(outsider)
    assert client.get("/api/v1/audit/", {"request": secret.pk}).json()["count"] == 0
    client.force_login(requester)
    assert client.get("/api/v1/audit/", {"request": secret.pk}).json()["count"] == 1


def test_record_event_outside_archive_chain_names(db):
    with transaction.atomic():
        event = record_event(event_type="events_archived", actor=Actor("system"), chain="archive")
    assert event.chain == "archive" and event.seq == 1
