"""The generation journal: outcomes durable at once, folded into DuckDB in batches.

Why: a generation run delivers hundreds of outcomes a second, and one DuckDB transaction per
small batch costs several milliseconds of CPU and an fsync each (the per-statement cost and the
audit event dominate, not the rows), which made the store the bottleneck of `prefer generate`.
Committing less often instead would let kill -9 lose outcomes the run had already received.

How: `append` writes a batch of outcomes to an append-only file beside the database before
returning: from then on they survive the process's death (kill -9, a crash: the kernel holds
what was written). The journal's thread fsyncs what was appended within SYNC_S (so they
survive power loss too) and moves it into DuckDB (LocalStore's fold: the same insert and audit
event as before) in large batches: when FOLD_RECORDS have piled up or the oldest waited
FOLD_SECONDS. Every read of the store (LocalStore wraps each reading operation), finishing a
run and closing the store call `flush` first when outcomes wait, which folds at once: readers
see every outcome taken, as if each had been committed on arrival.

Why the fsync is not the caller's: `append` runs on the event loop of `prefer generate` (a
write to the page cache takes microseconds); an fsync waits milliseconds for the disk, and a
writer thread that took each batch, wrote and fsynced it cost that loop 15-20% of its
throughput in thread switches and lock hand-overs at latency 0 (docs/benchmarks.md).

Segments: the journal is a series of files `<database>.journal-<n>`. A fold switches appends to
a new segment, folds the records of the old one in one transaction, and only then deletes the
old segment. So a crash at any moment leaves on disk every outcome not yet committed, and
opening the store again (`replay`) folds every segment left, oldest first. Folding is
idempotent (generation ids are the generations table's key, candidates are content-addressed
and inserted only when new, a batch that writes nothing appends no audit event), so a segment
folded just before a crash, but not yet deleted, is folded again without doubling anything.

Each line is one append: `<crc32 hex> <json>\n`. A torn last line (the process died inside a
write) fails its checksum and is ignored. Files are created 0600 (the store's private-file
rule, core/store/private.py): they hold the generated texts. Only the process that holds the
DuckDB file writes its journal (DuckDB's file lock makes that one process); read-only openers
neither replay nor see unfolded outcomes.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path

from core.models import GenerationRecord

FOLD_RECORDS = 2048  # fold when this many outcomes wait
# Or when the oldest has waited this long (reads fold at once anyway). A fold costs ~35 ms of
# CPU whatever its size plus ~0.08 ms an outcome (DuckDB 2.0, one core): every 2 s at 200
# outcomes a second that fixed part was half the cost of folding; every 5 s a quarter. Not
# longer: what waits is folded when the run ends, after its last answer.
FOLD_SECONDS = 5.0
# What was appended is fsynced this long after the first unsynced append, together with what
# arrived meanwhile (one fsync for them all): it survives power loss at most this much later
# (the process's death at once). Measured at latency 0 (docs/benchmarks.md): each fsync cycle
# cost the appending event loop ~8 involuntary thread switches; at 10 ms that was 15% of its
# throughput, at 100 ms within the noise. A power cut loses at most this much generation work,
# which the next run asks for again.
SYNC_S = 0.1

_TIMES = ("started_at", "finished_at")
_FIELDS = tuple(f.name for f in fields(GenerationRecord))


@dataclass(frozen=True)
class JournalBatch:
    """One append: outcomes and the actor the store was called with."""

    records: tuple[GenerationRecord, ...]
    actor: str | None


def _encode(batch: JournalBatch) -> bytes:
    rows = []
    for record in batch.records:
        # The instance's own dict, copied flat (no asdict deep copy, no getattr per field: this
        # runs for every outcome of a run, on the thread that fsyncs).
        row = dict(record.__dict__)
        for name in _TIMES:
            row[name] = row[name].isoformat()
        rows.append(row)
    payload = json.dumps({"actor": batch.actor, "records": rows}, ensure_ascii=False,
                         separators=(",", ":")).encode("utf-8")
    return b"%08x %b\n" % (zlib.crc32(payload), payload)


def _decode(line: bytes) -> JournalBatch | None:
    """The batch of one line, or None when the line is torn or damaged."""
    if not line.endswith(b"\n") or len(line) < 10 or line[8:9] != b" ":
        return None
    payload = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        data = json.loads(payload)
        records = []
        for row in data["records"]:
            for name in _TIMES:
                row[name] = datetime.fromisoformat(row[name])
            records.append(GenerationRecord(**{k: row.get(k) for k in _FIELDS}))
    except (ValueError, KeyError, TypeError):
        return None
    return JournalBatch(tuple(records), data.get("actor"))


def read_segment(path: Path) -> list[JournalBatch]:
    """Every intact batch of a segment, up to the first torn or damaged line."""
    batches = []
    with path.open("rb") as source:
        for line in source:
            batch = _decode(line)
            if batch is None:
                break  # nothing after a torn line was acknowledged
            batches.append(batch)
    return batches


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


Fold = Callable[[Sequence[JournalBatch]], None]


class GenerationJournal:
    """The journal of one store; `fold` commits batches to DuckDB (idempotently)."""

    def __init__(self, database: str | Path, fold: Fold, *, fold_records: int = FOLD_RECORDS,
                 fold_seconds: float = FOLD_SECONDS, sync_s: float = SYNC_S) -> None:
        self.database = Path(database)
        self.folder = self.database.parent
        self.prefix = self.database.name + ".journal-"
        self._fold = fold
        self.fold_records = fold_records
        self.fold_seconds = fold_seconds
        self.sync_s = sync_s
        self._lock = threading.Lock()  # the open segment, the pending list, what is unsynced
        self._fold_lock = threading.Lock()  # one fold at a time, in order
        self._sync_lock = threading.Lock()  # one fsync at a time
        self._wake = threading.Condition(self._lock)
        self._pending: list[JournalBatch] = []
        self._pending_records = 0
        self._oldest: float | None = None  # when the oldest pending batch was appended
        self._unsynced: float | None = None  # when the first append not yet fsynced was made
        self._folder_unsynced = False  # a new segment whose folder entry is not yet fsynced
        # Until when the journal's thread sleeps (0 while it works): an append whose fsync falls
        # due earlier wakes it.
        self._wait_until = 0.0
        self._fd: int | None = None
        self._segment: Path | None = None
        self._next = 1 + max((n for n, _ in self.segments()), default=0)
        self._thread: threading.Thread | None = None
        self._closing = False
        self.error: BaseException | None = None  # a failed fold or fsync, raised by the next flush
        self.stats = {"appends": 0, "records": 0, "syncs": 0, "folds": 0, "folded": 0}

    def segments(self) -> list[tuple[int, Path]]:
        """The segment files on disk, oldest first."""
        found = []
        for path in self.folder.glob(self.prefix + "*"):
            suffix = path.name[len(self.prefix):]
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    # --- at open ---------------------------------------------------------------------------

    def replay(self) -> int:
        """Fold every segment a previous process left (it died before folding them); return
        the outcomes folded (some may have been in DuckDB already: folding ignores those)."""
        folded = 0
        with self._fold_lock:
            for _, path in self.segments():
                batches = read_segment(path)
                if batches:
                    self._fold(batches)
                    folded += sum(len(b.records) for b in batches)
                path.unlink()
        return folded

    # --- appending -------------------------------------------------------------------------

    def _open_segment(self) -> None:
        """A new segment for appends (caller holds _lock)."""
        path = self.folder / f"{self.prefix}{self._next:012d}"
        self._next += 1
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        self._segment = path
        self._folder_unsynced = True  # the file itself must survive power loss too: see sync

    def append(self, records: Sequence[GenerationRecord], actor: str | None) -> None:
        """Write `records`: when this returns they survive the process's death (kill -9); the
        journal's thread fsyncs them within SYNC_S (power loss)."""
        if not records:
            return
        batch = JournalBatch(tuple(records), actor)
        line = _encode(batch)
        with self._lock:
            if self._closing:
                raise RuntimeError("the generation journal is closed")
            if self._fd is None:
                self._open_segment()
            assert self._fd is not None
            written = os.write(self._fd, line)
            while written < len(line):  # a short write (full disk raises instead)
                written += os.write(self._fd, line[written:])
            now = time.monotonic()
            self._pending.append(batch)
            self._pending_records += len(records)
            if self._oldest is None:
                self._oldest = now
            self.stats["appends"] += 1
            self.stats["records"] += len(records)
            if self._thread is None:
                self._thread = threading.Thread(target=self._background, daemon=True,
                                                name="prefer-journal")
                self._thread.start()
            # The thread is woken only when it would sleep past this append's fsync or a fold
            # is due: while outcomes keep arriving it wakes on its own timer, once per SYNC_S
            # (a wake-up per append would cost the appending event loop a thread switch each).
            wake = self._pending_records >= self.fold_records
            if self._unsynced is None:
                self._unsynced = now
                wake = wake or self._wait_until > now + self.sync_s
            if wake:
                self._wake.notify()

    def sync(self) -> None:
        """fsync what was appended so far (the journal's thread does it within SYNC_S)."""
        # Under _sync_lock, which a fold also takes to close a segment: the descriptor stays
        # open while it is fsynced, with no copy of it (each system call here is a hand-over
        # of the interpreter lock between this thread and the appending event loop).
        with self._sync_lock:
            with self._lock:
                if self._unsynced is None and not self._folder_unsynced:
                    return
                fd = self._fd if self._unsynced is not None else None
                folder, self._folder_unsynced, self._unsynced = self._folder_unsynced, False, None
            if folder:
                _fsync_folder(self.folder)
            if fd is not None:
                os.fsync(fd)
                self.stats["syncs"] += 1

    # --- folding ---------------------------------------------------------------------------

    def _take(self) -> tuple[list[JournalBatch], Path | None, int | None]:
        """The pending batches and their segment; appends go to a new segment from now on
        (caller holds _lock)."""
        batches, segment, fd = self._pending, self._segment, self._fd
        self._pending, self._pending_records, self._oldest = [], 0, None
        self._segment, self._fd = None, None
        return batches, segment, fd

    def _fold_taken(self, batches: list[JournalBatch], segment: Path | None,
                    fd: int | None) -> None:
        """Commit a taken segment's batches, then delete it (caller holds _fold_lock)."""
        if fd is not None:
            with self._sync_lock:  # not while sync() fsyncs it
                os.close(fd)
        if batches:
            self._fold(batches)
            self.stats["folds"] += 1
            self.stats["folded"] += sum(len(b.records) for b in batches)
        if segment is not None:
            segment.unlink()

    def waiting(self) -> bool:
        """Outcomes are appended but not yet committed (pending, or a fold is under way)."""
        return self._pending_records > 0 or self._fold_lock.locked()

    def flush(self) -> None:
        """Fold everything appended so far, now (readers that need every outcome call this)."""
        with self._fold_lock:
            with self._lock:
                taken = self._take()
            try:
                self._fold_taken(*taken)
            except BaseException as exc:
                self.error = exc
                raise
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def _due(self) -> tuple[float | None, float | None]:
        """Seconds until the next fsync and the next fold are due (None: nothing waits);
        caller holds _lock."""
        now = time.monotonic()
        sync_in = None if self._unsynced is None else self._unsynced + self.sync_s - now
        fold_in = None
        if self._oldest is not None:
            fold_in = (0.0 if self._pending_records >= self.fold_records
                       else self._oldest + self.fold_seconds - now)
        return sync_in, fold_in

    def _background(self) -> None:
        """The journal's thread: fsyncs within SYNC_S of an append, folds when one is due."""
        synced = False
        while True:
            with self._lock:
                while True:
                    if self._closing:
                        return
                    sync_in, fold_in = self._due()
                    waits = [t for t in (sync_in, fold_in) if t is not None]
                    if waits and min(waits) <= 0:
                        break
                    if synced and sync_in is None:
                        # Outcomes are arriving: look again after SYNC_S rather than be woken
                        # by the next append.
                        waits.append(self.sync_s)
                    synced = False
                    timeout = min(waits) if waits else None
                    self._wait_until = math.inf if timeout is None else time.monotonic() + timeout
                    self._wake.wait(timeout)
                    self._wait_until = 0.0
            try:
                if sync_in is not None and sync_in <= 0:
                    self.sync()
                    synced = True
                if fold_in is not None and fold_in <= 0:
                    with self._fold_lock:
                        with self._lock:
                            taken = self._take()
                        self._fold_taken(*taken)
            except BaseException as exc:  # the segment stays: folded at the next open
                self.error = exc
                return

    def close(self) -> None:
        """Fold what is pending (when the store still works) and stop the journal's thread."""
        with self._lock:
            self._closing = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._fold_lock, self._lock:
            taken = self._take()
        if self.error is None:
            with self._fold_lock:
                self._fold_taken(*taken)
        elif taken[2] is not None:
            with self._sync_lock:
                os.fsync(taken[2])  # not folded: the next open replays it, so it must be on disk
                os.close(taken[2])
