"""The cold tier: events past the hot window move to gzip JSON-lines files.

Each run writes files of at most ``AUDIT_ARCHIVE_FILE_EVENTS`` events in
(chain, seq) order, one event's hashed material plus its hash per line. For
every file the database keeps an ``AuditArchive`` row (name, SHA-256, count,
time range) and one ``ArchivedEvent`` manifest row per event (hashes, place in
the file, query columns); a sidecar ``.manifest.json`` carries the per-chain
continuity (first and last seq and hash) for anyone checking the files alone.

This is the one path past the append-only trigger: the transaction sets
``audit.archiving`` (PostgreSQL), the trigger lets a hot row go only once its
manifest row holds the same id and hash, and the run is itself recorded as an
``events_archived`` event in the ``archive`` chain.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from .checkpoints import create_checkpoint
from .choices import ARCHIVE_CHAIN, EVENTS_ARCHIVED
from .hashing import canonical_json, material_of, utc_iso
from .locks import serialize
from .models import ArchivedEvent, AuditArchive, AuditEvent
from .services import SYSTEM, Actor, record_event

# The gzip errors a damaged file can raise while being read.
READ_ERRORS = (OSError, EOFError, zlib.error, UnicodeDecodeError, json.JSONDecodeError)


def archive_dir() -> Path:
    return Path(settings.AUDIT_ARCHIVE_DIR)


def archive_path(archive: AuditArchive) -> Path:
    return archive_dir() / archive.name


def hot_cutoff(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(days=settings.AUDIT_HOT_DAYS)


def _candidates(cutoff: datetime):  # -> QuerySet[AuditEvent]
    """Hot events older than the cutoff that form a prefix of their chain: an
    event stays while an earlier one of its chain is still inside the window
    (out-of-order times), so a chain is always archive-prefix + hot-suffix."""
    earlier_recent = AuditEvent.objects.filter(
        chain=OuterRef("chain"), seq__lt=OuterRef("seq"), at__gte=cutoff
    )
    return (
        AuditEvent.objects.filter(at__lt=cutoff)
        .exclude(chain=ARCHIVE_CHAIN)
        .exclude(Exists(earlier_recent))
        .order_by("chain", "seq")
    )


def _line(event: AuditEvent) -> bytes:
    return (canonical_json({**material_of(event), "hash": event.hash}) + "\n").encode()


def _write_file(path: Path, events: list[AuditEvent]) -> str:
    """Write the events to ``path`` atomically (temp file, fsync, rename); return its SHA-256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as raw:
        # mtime=0: the same events always make the same bytes.
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            for event in events:
                gz.write(_line(event))
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _chains_summary(events: list[AuditEvent]) -> list[dict[str, Any]]:
    chains: list[dict[str, Any]] = []
    for event in events:
        if chains and chains[-1]["chain"] == event.chain:
            chains[-1].update(last_seq=event.seq, last_hash=event.hash)
        else:
            chains.append(
                {
                    "chain": event.chain,
                    "first_seq": event.seq,
                    "first_prev_hash": event.prev_hash,
                    "last_seq": event.seq,
                    "last_hash": event.hash,
                }
            )
    return chains


@contextmanager
def _archiving() -> Iterator[None]:
    """Open the trigger's one door (PostgreSQL) for the statement inside, and close it
    again: SET LOCAL would otherwise last to the end of a caller's outer transaction."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL audit.archiving = 'on'")
        try:
            yield
        finally:
            cursor.execute("SET LOCAL audit.archiving = 'off'")


def _archive_batch(cutoff: datetime, batch_size: int, actor: Actor) -> AuditArchive | None:
    written: list[Path] = []
    try:
        with transaction.atomic():
            serialize("archive")
            events = list(_candidates(cutoff)[:batch_size])
            if not events:
                return None
            now = timezone.now()
            name = f"{now:%Y/%m}/audit-{now:%Y%m%dT%H%M%S%f}-{events[0].id.hex[:8]}.jsonl.gz"
            path = archive_dir() / name
            written.append(path)
            sha256 = _write_file(path, events)
            first_at = min(e.at for e in events)
            last_at = max(e.at for e in events)
            archive = AuditArchive.objects.create(
                name=name,
                sha256=sha256,
                event_count=len(events),
                first_at=first_at,
                last_at=last_at,
                created_at=now,
            )
            ArchivedEvent.objects.bulk_create(
                [_manifest_row(archive, line, event) for line, event in enumerate(events, 1)]
            )
            # The one deletion of audit rows: the trigger checks each has its manifest row.
            with _archiving():
                deleted = AuditEvent.objects.filter(pk__in=[e.pk for e in events])._raw_delete(
                    AuditEvent.objects.db
                )
            if deleted != len(events):
                raise RuntimeError("archive: hot events changed under the run; nothing moved")
            chains = _chains_summary(events)
            manifest = path.with_name(path.name + ".manifest.json")
            written.append(manifest)
            manifest.write_text(
                canonical_json(
                    {
                        "file": name,
                        "sha256": sha256,
                        "event_count": len(events),
                        "first_at": utc_iso(first_at),
                        "last_at": utc_iso(last_at),
                        "chains": chains,
                    }
                )
            )
            record_event(
                event_type=EVENTS_ARCHIVED,
                actor=actor,
                chain=ARCHIVE_CHAIN,
                payload={
                    "file": name,
                    "sha256": sha256,
                    "event_count": len(events),
                    "chains": len(chains),
                    "first_at": first_at,
                    "last_at": last_at,
                    "cutoff": cutoff,
                },
            )
            return archive
    except BaseException:
        # Nothing moved: leave no file behind that the database does not know.
        for path in written:
            path.unlink(missing_ok=True)
        raise


def _manifest_row(archive: AuditArchive, line: int, event: AuditEvent) -> ArchivedEvent:
    return ArchivedEvent(
        id=event.id,
        archive=archive,
        line=line,
        at=event.at,
        chain=event.chain,
        seq=event.seq,
        request_id=event.request_id,
        workflow_key=event.workflow_key,
        workflow_version=event.workflow_version,
        event_type=event.event_type,
        actor=event.actor,
        actor_username=event.actor_username,
        on_behalf_of_username=event.on_behalf_of_username,
        inputs=event.inputs,
        imported=event.imported,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def archive_events(
    *, before: datetime | None = None, batch_size: int | None = None, actor: Actor = SYSTEM
) -> list[AuditArchive]:
    """Move every event older than ``before`` (default: now minus AUDIT_HOT_DAYS)
    to archive files, one transaction per file. Checkpoints first, so every head
    about to move is already in the checkpoint chain."""
    cutoff = before or hot_cutoff()
    batch_size = batch_size or settings.AUDIT_ARCHIVE_FILE_EVENTS
    create_checkpoint()
    archives: list[AuditArchive] = []
    while (archive := _archive_batch(cutoff, batch_size, actor)) is not None:
        archives.append(archive)
    return archives


class _HashingReader:
    """A file wrapper that hashes the compressed bytes as gzip reads them."""

    def __init__(self, raw: Any):
        self.raw = raw
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        return data

    def readable(self) -> bool:
        return True


class ArchiveReader:
    """Reads one archive file line by line, hashing its compressed bytes on the way.

    After ``events()`` is exhausted, ``sha256`` holds the file's checksum, or
    ``error`` and ``error_line`` say where the file could not be read."""

    def __init__(self, archive: AuditArchive):
        self.archive = archive
        self.sha256: str | None = None
        self.error: Exception | None = None
        self.error_line: int | None = None

    def events(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, event) pairs; FileNotFoundError if the file is gone."""
        with open(archive_path(self.archive), "rb") as raw:
            reader = _HashingReader(raw)
            line_no = 0
            try:
                with gzip.GzipFile(fileobj=reader, mode="rb") as gz:  # type: ignore[arg-type]
                    for text in gz:
                        line_no += 1
                        yield line_no, json.loads(text)
                while reader.read(65536):
                    pass  # hash any trailing bytes gzip did not need
            except READ_ERRORS as exc:
                self.error, self.error_line = exc, line_no + 1
                return
            self.sha256 = reader.sha256.hexdigest()


def archived_bodies(rows: Iterable[tuple[int, int]]) -> dict[tuple[int, int], dict[str, Any]]:
    """The full events at (archive id, line) positions, read from their files one
    file at a time (each at most AUDIT_ARCHIVE_FILE_EVENTS lines). Positions
    whose file is missing or damaged are left out."""
    wanted: dict[int, set[int]] = {}
    for archive_id, line in rows:
        wanted.setdefault(archive_id, set()).add(line)
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for archive in AuditArchive.objects.filter(pk__in=wanted):
        lines = wanted[archive.pk]
        last = max(lines)
        try:
            for line_no, data in ArchiveReader(archive).events():
                if line_no in lines:
                    found[(archive.pk, line_no)] = data
                if line_no >= last:
                    break
        except FileNotFoundError:
            continue
    return found
