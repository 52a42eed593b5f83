"""audit_verify: walk every chain, the archive files and the checkpoints.

Memory stays flat whatever the size of the trail: rows are streamed in
(chain, seq) order in chunks (hot events as plain rows, see ``hot_rows``),
archive files line by line, checkpoint entries in order. The first fault found
stops the walk and is named: the event (and the file, for the archive), and why.
The hot chains, most of the work, can be walked by several processes, one range
of chains each (``verify_all(workers=N)``); the answer is the same.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import asdict, dataclass
from itertools import repeat
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from .archive import ArchiveReader
from .hashing import (
    GENESIS_HASH,
    checkpoint_entry_line,
    checkpoint_hash,
    hash_matches,
    hashed_fields,
    utc_iso,
)
from .hot_rows import ALL_CHAINS, ChainRange, chain_ranges, hot_rows
from .models import ArchivedEvent, AuditArchive, AuditCheckpoint, AuditEvent, CheckpointEntry
from .processes import start_django

# Manifest columns that must equal the archived line they describe.
MANIFEST_COLUMNS = (
    "chain",
    "seq",
    "request_id",
    "workflow_key",
    "workflow_version",
    "event_type",
    "actor",
    "inputs",
    "imported",
    "prev_hash",
)


@dataclass
class VerifyResult:
    """``ok``; how many events and checkpoints were checked; and, when not ok,
    the first broken event's id (when one can be named), its place and why."""

    ok: bool
    checked: int
    first_broken: str | None = None
    chain: str | None = None
    seq: int | None = None
    file: str | None = None
    checkpoint: int | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def describe(self) -> str:
        if self.ok:
            return f"OK: {self.checked} events and checkpoints verified"
        where = []
        if self.first_broken:
            where.append(f"event {self.first_broken}")
        if self.chain is not None:
            where.append(f"{self.chain}#{self.seq}")
        if self.file:
            where.append(f"file {self.file}")
        if self.checkpoint is not None:
            where.append(f"checkpoint #{self.checkpoint}")
        return f"BROKEN: {' '.join(where)}: {self.reason}"


class Broken(Exception):
    def __init__(self, reason: str, *, event: Any = None, **where: Any):
        super().__init__(reason)
        self.reason = reason
        self.where = where
        if event is not None:
            self.where.setdefault("first_broken", str(event.id))
            self.where.setdefault("chain", event.chain)
            self.where.setdefault("seq", event.seq)


class _Place(NamedTuple):
    """Where an event is, for a ``Broken`` that names it."""

    id: str
    chain: str
    seq: int


class _Walk:
    def __init__(self, chunk_size: int):
        self.chunk_size = chunk_size
        self.checked = 0

    # --- the hot tier -------------------------------------------------------

    def hot(self, chains: ChainRange = ALL_CHAINS) -> None:
        """Every hot chain (in ``chains``), event by event, in (chain, seq) order."""
        chain: str | None = None
        seq = 0
        prev_hash = GENESIS_HASH
        # In a transaction: see hot_rows.
        with transaction.atomic(), closing(hot_rows(chains, chunk_size=self.chunk_size)) as rows:
            for (
                event_id,
                at,
                event_chain,
                event_seq,
                request_id,
                workflow_key,
                workflow_version,
                event_type,
                imported,
                event_prev_hash,
                event_hash,
                actor_username,
                on_behalf_of_username,
                actor,
                payload,
                snapshot,
                inputs,
            ) in rows:
                event = _Place(event_id, event_chain, event_seq)
                if event_chain != chain:
                    chain, seq, prev_hash = event_chain, 0, GENESIS_HASH
                    if event_seq != 1:
                        seq, prev_hash = self._archived_head_before(event)
                if event_seq != seq + 1:
                    raise Broken(f"events {seq + 1}..{event_seq - 1} are missing", event=event)
                if event_prev_hash != prev_hash:
                    raise Broken("prev_hash does not match the previous event's hash", event=event)
                material = {
                    "id": event_id,
                    "at": utc_iso(at),
                    "chain": event_chain,
                    "seq": event_seq,
                    "request_id": request_id,
                    "workflow_key": workflow_key,
                    "workflow_version": workflow_version,
                    "event_type": event_type,
                    "actor": actor,
                    "payload": payload,
                    "snapshot": snapshot,
                    "inputs": inputs,
                    "imported": imported,
                    "prev_hash": event_prev_hash,
                }
                if not hash_matches(material, event_hash):
                    raise Broken(
                        "content does not match its hash: the event was altered", event=event
                    )
                if not isinstance(actor, dict):
                    actor = {}
                if actor_username != (actor.get("user") or "") or (
                    on_behalf_of_username != (actor.get("on_behalf_of") or "")
                ):
                    raise Broken("actor columns differ from the hashed actor", event=event)
                seq, prev_hash = event_seq, event_hash
                self.checked += 1

    def hot_in_processes(self, workers: int) -> None:
        """``hot`` over ``workers`` processes, one range of chains each."""
        if connection.vendor != "postgresql":
            raise ValueError("verifying in several processes needs PostgreSQL")
        if connection.in_atomic_block:
            # The other processes would not see what this transaction wrote.
            raise RuntimeError("verify with workers must run outside a transaction")
        ranges = chain_ranges(workers)
        # Fresh interpreters, not forks: a fork would carry this process's open
        # connections along, the same sockets in two processes.
        with ProcessPoolExecutor(
            max_workers=len(ranges),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=start_django,
            initargs=(dict(connection.settings_dict),),
        ) as pool:
            outcomes = list(pool.map(_walk_hot, ranges, repeat(self.chunk_size)))
        # In chain order: the first range with a fault holds the fault a single walk
        # would meet first, after the events of the ranges before it and its own.
        for checked, broken in outcomes:
            self.checked += checked
            if broken is not None:
                reason, where = broken
                raise Broken(reason, **where)

    def _archived_head_before(self, event: _Place) -> tuple[int, str]:
        """A chain whose hot events start after seq 1 had its older events moved to
        the archive: (seq, hash) of the last one, which must come right before."""
        last = (
            ArchivedEvent.objects.filter(chain=event.chain)
            .order_by("-seq")
            .values_list("seq", "hash")
            .first()
        )
        if last is None or last[0] != event.seq - 1:
            raise Broken(f"events before seq {event.seq} are missing from the chain", event=event)
        return last

    def tiers_do_not_overlap(self) -> None:
        """A chain is an archived prefix then a hot suffix, never both at one place."""
        later_archived = ArchivedEvent.objects.filter(
            chain=OuterRef("chain"), seq__gte=OuterRef("seq")
        )
        clash = AuditEvent.objects.filter(Exists(later_archived)).order_by("chain", "seq").first()
        if clash is not None:
            raise Broken(
                "the archive holds an event at or after this place in its chain", event=clash
            )

    # --- the archive ----------------------------------------------------------

    def archive_chains(self) -> None:
        """The manifest's chains: gapless from 1, each linked to the one before."""
        chain: str | None = None
        seq = 0
        prev_hash = GENESIS_HASH
        rows = (
            ArchivedEvent.objects.order_by("chain", "seq")
            .only("id", "chain", "seq", "prev_hash", "hash", "archive_id")
            .iterator(chunk_size=self.chunk_size)
        )
        for row in rows:
            if row.chain != chain:
                chain, seq, prev_hash = row.chain, 0, GENESIS_HASH
            if row.seq != seq + 1:
                raise Broken(
                    f"archived events {seq + 1}..{row.seq - 1} are missing",
                    event=row,
                    file=row.archive.name,
                )
            if row.prev_hash != prev_hash:
                raise Broken(
                    "prev_hash does not match the previous archived event's hash",
                    event=row,
                    file=row.archive.name,
                )
            seq, prev_hash = row.seq, row.hash

    def archive_files(self) -> None:
        """Each file, line by line, against its manifest rows and its checksum."""
        for archive in AuditArchive.objects.order_by("id").iterator():
            self.archive_file(archive)

    def archive_file(self, archive: AuditArchive) -> None:
        rows = archive.events.order_by("line").iterator(chunk_size=self.chunk_size)
        reader = ArchiveReader(archive)
        count = 0
        try:
            lines = reader.events()
            for row in rows:
                item = next(lines, None)
                if item is None:
                    if reader.error is not None:
                        raise Broken(
                            f"the file cannot be read at line {reader.error_line}: {reader.error}",
                            event=row,
                            file=archive.name,
                        )
                    raise Broken("the file ends before this event", event=row, file=archive.name)
                line_no, data = item
                self._check_line(archive, row, line_no, data)
                count += 1
                self.checked += 1
            extra = next(lines, None)
        except FileNotFoundError:
            first = archive.events.order_by("line").first()
            raise Broken("the archive file is missing", event=first, file=archive.name) from None
        if extra is not None:
            raise Broken(f"the file has an unlisted line {extra[0]}", file=archive.name)
        if reader.error is not None:
            raise Broken(
                f"the file cannot be read after line {count}: {reader.error}", file=archive.name
            )
        if count != archive.event_count:
            raise Broken(
                f"the manifest lists {count} events, the archive {archive.event_count}",
                file=archive.name,
            )
        if reader.sha256 != archive.sha256:
            raise Broken("the file's SHA-256 differs from the archive record", file=archive.name)

    @staticmethod
    def _check_line(archive: AuditArchive, row: ArchivedEvent, line_no: int, data: Any) -> None:
        if not isinstance(data, dict) or data.get("id") != str(row.id):
            raise Broken(
                f"line {line_no} is not the event the manifest lists there",
                event=row,
                file=archive.name,
            )
        if data.get("hash") != row.hash or not hash_matches(hashed_fields(data), row.hash):
            raise Broken(
                f"line {line_no} does not match its hash: the event was altered",
                event=row,
                file=archive.name,
            )
        differs = [c for c in MANIFEST_COLUMNS if data.get(c) != getattr(row, c)]
        if data.get("at") != utc_iso(row.at):
            differs.append("at")
        if differs:
            raise Broken(
                f"manifest columns {', '.join(differs)} differ from the archived event",
                event=row,
                file=archive.name,
            )

    # --- checkpoints ----------------------------------------------------------

    def checkpoints(self) -> None:
        prev_hash = GENESIS_HASH
        seq = 0
        for cp in AuditCheckpoint.objects.order_by("seq").iterator(chunk_size=self.chunk_size):
            if cp.seq != seq + 1:
                raise Broken(f"checkpoints {seq + 1}..{cp.seq - 1} are missing", checkpoint=cp.seq)
            if cp.prev_hash != prev_hash:
                raise Broken("prev_hash does not match the previous checkpoint", checkpoint=cp.seq)
            digest = hashlib.sha256()
            count = 0
            entries = (
                CheckpointEntry.objects.filter(checkpoint_seq=cp.seq)
                .order_by("position")
                .values_list("position", "chain", "seq", "event_id", "hash")
                .iterator(chunk_size=self.chunk_size)
            )
            for position, chain, entry_seq, event_id, entry_hash in entries:
                if position != count:
                    raise Broken(f"entry {count} is missing", checkpoint=cp.seq)
                digest.update(checkpoint_entry_line(chain, entry_seq, str(event_id), entry_hash))
                count += 1
            expected = checkpoint_hash(
                seq=cp.seq,
                at=cp.at,
                prev_hash=cp.prev_hash,
                entry_count=count,
                entries_digest=digest.hexdigest(),
            )
            if count != cp.entry_count or digest.hexdigest() != cp.entries_digest:
                raise Broken("its chain heads were altered", checkpoint=cp.seq)
            if expected != cp.hash:
                raise Broken("content does not match its hash", checkpoint=cp.seq)
            seq, prev_hash = cp.seq, cp.hash
            self.checked += 1

    def recorded_heads_exist(self) -> None:
        """Every chain head a checkpoint recorded still exists, hot or archived:
        removing a whole chain, or its last events, is caught here."""

        def same(model: type) -> Exists:
            return Exists(
                model.objects.filter(
                    chain=OuterRef("chain"), seq=OuterRef("seq"), hash=OuterRef("hash")
                )
            )

        missing = (
            CheckpointEntry.objects.exclude(same(AuditEvent))
            .exclude(same(ArchivedEvent))
            .order_by("checkpoint_seq", "position")
            .first()
        )
        if missing is not None:
            raise Broken(
                "the event is gone: the checkpoint recorded it as its chain's head",
                first_broken=str(missing.event_id),
                chain=missing.chain,
                seq=missing.seq,
                checkpoint=missing.checkpoint_seq,
            )


def verify_all(*, chunk_size: int = 2000, workers: int = 1) -> VerifyResult:
    """Check every hot chain, the archive (manifest chains, files, checksums) and
    the checkpoint chain; stop at the first fault and name it.

    ``workers`` > 1 walks the hot chains in that many processes (PostgreSQL,
    called outside a transaction); the other checks stay in this one. The
    result is the same either way. The processes are spawned, so a script that
    calls this needs the ``if __name__ == "__main__":`` guard (manage.py has it)."""
    walk = _Walk(chunk_size)
    try:
        if workers > 1:
            walk.hot_in_processes(workers)
        else:
            walk.hot()
        walk.tiers_do_not_overlap()
        walk.archive_chains()
        walk.archive_files()
        walk.checkpoints()
        walk.recorded_heads_exist()
    except Broken as broken:
        return VerifyResult(ok=False, checked=walk.checked, reason=broken.reason, **broken.where)
    return VerifyResult(ok=True, checked=walk.checked)


def _walk_hot(chains: ChainRange, chunk_size: int) -> tuple[int, tuple[str, dict] | None]:
    """One process of ``hot_in_processes``: walk ``chains``; (events checked, the
    fault or None)."""
    walk = _Walk(chunk_size)
    try:
        walk.hot(chains)
    except Broken as broken:
        return walk.checked, (broken.reason, broken.where)
    finally:
        connection.close()
    return walk.checked, None
