"""Group commit: the writes of concurrent callers share one DuckDB transaction, committed once.

Why: a DuckDB commit writes and fsyncs the WAL (2-7 ms on the reference machine, by its
load) and the store's writes are serialised (one writer at a time), so with one transaction
per save 20 annotators get at most a few hundred saves a second however small each save is (a
bare loop of BEGIN / INSERT / COMMIT from 20 threads: 130-480 a second there, by the load; see
docs/benchmarks.md). And every DuckDB statement has a fixed cost of ~0.3-1.5 ms (planning,
binding), which a save paid five times under the lock.

How: a writer takes the write lock, runs its statements in the open transaction of the
writer cursor (opening one if there is none) and releases the lock. If other writers are
already queued for the lock, it leaves the transaction open for them and waits; the last of
a batch (nobody queued behind it, or the batch is full or old enough) commits, and only then
is every member answered. Nothing is acknowledged before the commit that holds it, so nothing
acknowledged is lost on kill -9. Under no contention a write commits at once, as before.

Fewer statements: rows a member appends with append_row are inserted with the batch's others at
the commit, one statement per table (the store's audited rows are not: each write's event
carries a digest of its rows computed in SQL, so they are inserted at once; the store keeps the
chain's tip across the batch's writes through the gate's on_begin/on_commit/on_rollback
hooks); the rows a member must read first (read_by_key: an item's judgments) are read once for
every writer announced as waiting to join (WriteGate.announce). A statement of the batch that
names a table with rows not yet inserted inserts them first, so reads see them.

DuckDB has no savepoints, so one member cannot be rolled back alone. Hence:
- a member that fails before writing anything (validation raises first, reads are free)
  leaves the batch untouched: its caller gets its error, the others are committed;
- a member that fails after writing, or a failed COMMIT, rolls the whole batch back and every
  member runs again on its own, in a transaction of its own (Redo, caught by `grouped`), so a
  bad write costs the others a retry, never their write;
- only methods marked `grouped` join batches, since a redo runs the whole method again: such a
  method must write in one `transaction()` only. Any other `transaction()`, and `with gate:`
  (exclusive use, for writes through another cursor), first commits the open batch and then
  runs alone, exactly as before group commit.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import duckdb

MAX_BATCH = 64  # members of one commit at most
MAX_BATCH_SECONDS = 0.1  # a batch open this long is committed by the next member to finish

# Statements that only read (the first keyword; anything else counts as a write).
_READS = frozenset({"SELECT", "FROM", "VALUES", "SHOW", "DESCRIBE", "SUMMARIZE"})
_FIRST_WORD = re.compile(r"(?:\s|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]*)", re.S)
# Cursor methods that only fetch what an execute() produced.
_FETCHES = frozenset({"fetchone", "fetchall", "fetchmany", "fetchnumpy", "fetchdf",
                      "fetch_df", "fetch_arrow_table", "arrow", "df", "description", "rowcount"})


class Redo(Exception):
    """The caller's write was rolled back with its batch (another member failed after writing,
    or the commit failed): run it again on its own. Never reaches a caller of the store."""


def is_read(sql: str) -> bool:
    """Whether `sql` can only read (one statement, SELECT-like); unsure means no."""
    body = sql.strip().rstrip(";")
    if ";" in body:
        return False  # several statements: one of them may write
    match = _FIRST_WORD.match(body)
    return bool(match) and match.group(1).upper() in _READS


class _Batch:
    """One open transaction of the writer cursor and the members whose writes it holds."""

    def __init__(self, gate: WriteGate) -> None:
        self.gate = gate
        self.began = time.monotonic()
        self.members = 0
        self.done = threading.Event()
        self.error: BaseException | None = None  # set when the batch was rolled back
        # A statement failed in it: DuckDB has aborted the transaction, and a COMMIT would
        # roll it back without a word (measured with duckdb 2.0), so it must not be committed.
        self.poisoned = False
        # on_commit failed after the batch committed: its members' writes stand, each caller
        # gets the error (not a Redo).
        self.after_commit_error: Exception | None = None
        # Rows appended by its members (append_row), per table, not inserted yet: inserted
        # in one statement per table at the commit, or before a statement that names it.
        self.deferred: dict[str, list[list[Any]]] = {}
        # Stored rows read once for several members (read_by_key): table -> key -> rows.
        self.prefetched: dict[str, dict[Any, list[tuple]]] = {}

    def flush(self, cursor: duckdb.DuckDBPyConnection, sql: str | None = None) -> None:
        """Insert the deferred rows of the tables `sql` names (all, without `sql`): one
        statement per table, the rows passed as one list per column (binding a list is far
        cheaper in DuckDB than binding as many parameters: 3.4 ms for 20 judgments, 7.8 ms
        as a VALUES list, 27 ms one by one, measured)."""
        for table in list(self.deferred):
            if sql is None or table in sql.lower():
                rows = self.deferred.pop(table)
                self.prefetched.pop(table, None)  # the stored rows change
                types = self.gate.column_types(cursor, table)
                cursor.execute(f"INSERT INTO {table} SELECT "
                               + ", ".join(f"unnest(?::{t}[])" for t in types),
                               [list(column) for column in zip(*rows, strict=True)])


class TrackingCursor:
    """The writer cursor as one member sees it: notes whether the member wrote anything and
    whether any of its statements failed."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection, batch: _Batch) -> None:
        self._cursor = cursor
        self.batch = batch
        self.wrote = False

    def execute(self, sql: str, *args: Any, **kwargs: Any) -> TrackingCursor:
        if not is_read(sql):
            self.wrote = True
            for table in [t for t in self.batch.prefetched if t in sql.lower()]:
                del self.batch.prefetched[table]  # it may change their rows
        if self.batch.deferred:
            self._call(self.batch.flush, self._cursor, sql)  # it may read them
        self._call(self._cursor.execute, sql, *args, **kwargs)
        return self

    def read_beside_deferred(self, sql: str, params: list[Any]) -> list[tuple]:
        """Rows of a read that the caller completes with the deferred rows itself (see
        append_row): run without inserting them first."""
        return self._call(lambda: self._cursor.execute(sql, params).fetchall())

    def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except duckdb.Error:
            self.wrote = self.batch.poisoned = True
            raise

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._cursor, name)
        if not callable(attribute):
            return attribute
        if name not in _FETCHES:
            self.wrote = True  # executemany, register, sql, ...: counted as writes
            self.batch.prefetched.clear()
            self._call(self.batch.flush, self._cursor)
        return functools.partial(self._call, attribute)


def append_row(cur: Any, table: str, row: list[Any]) -> None:
    """INSERT INTO `table` VALUES (`row`: every column, in order). In a batch the row is
    inserted with the other members' rows of the table at the commit, one statement for all
    (a statement costs ~1-2 ms however small, the insert itself a fraction of that), or before
    any statement of the batch that names the table. Reads that must see it meanwhile, without
    that insert, use read_by_key (or read_beside_deferred) and deferred_rows."""
    if isinstance(cur, TrackingCursor):
        cur.wrote = True
        cur.batch.deferred.setdefault(table, []).append(list(row))
    else:
        cur.execute(f"INSERT INTO {table} VALUES ({', '.join(['?'] * len(row))})", list(row))


def deferred_rows(cur: Any, table: str) -> list[list[Any]]:
    """Rows appended to `table` in `cur`'s batch and not inserted yet (oldest first)."""
    if isinstance(cur, TrackingCursor):
        return cur.batch.deferred.get(table, [])
    return []


def read_beside_deferred(cur: Any, sql: str, params: list[Any]) -> list[tuple]:
    """`sql`'s rows without inserting the batch's deferred rows first (the caller adds those
    from deferred_rows); a plain read outside a batch."""
    if isinstance(cur, TrackingCursor):
        return cur.read_beside_deferred(sql, params)
    return cur.execute(sql, params).fetchall()


def read_by_key(cur: Any, table: str, sql: str, key_column: int, key: Any) -> list[tuple]:
    """The stored rows of `table` whose key is `key`: `sql` selects from `table` the rows
    whose key is any of a list parameter, the key in column `key_column`.

    In a batch, the first member to ask reads them for every key announced for `table` by
    writers waiting to join (WriteGate.announce): one statement for the batch instead of one
    per write; the rows stay valid until the batch writes `table` (append_row's deferred rows
    are not among them: add deferred_rows). Outside a batch, a plain read of `key`'s rows.
    """
    if not isinstance(cur, TrackingCursor):
        return cur.execute(sql, [[key]]).fetchall()
    known = cur.batch.prefetched.setdefault(table, {})
    if key not in known:
        keys = [key, *(k for k in cur.batch.gate.announced(table) if k not in known and k != key)]
        found: dict[Any, list[tuple]] = {k: [] for k in keys}
        for row in cur.read_beside_deferred(sql, [keys]):
            found[row[key_column]].append(row)
        known.update(found)
    return known[key]


def rollback(cursor: duckdb.DuckDBPyConnection) -> None:
    """End `cursor`'s transaction, if it still has one."""
    with contextlib.suppress(duckdb.Error):  # a failed COMMIT has ended it already
        cursor.execute("ROLLBACK")


class WriteGate:
    """The store's one writer: the write lock, the writer cursor and the open batch.

    `with gate:` is exclusive use (the open batch is committed first); `transaction()` is a
    transaction on the writer cursor, grouped with others inside a `grouped` method.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *,
                 on_begin: Callable[[], None] | None = None,
                 on_commit: Callable[[], None] | None = None,
                 on_rollback: Callable[[], None] | None = None) -> None:
        """`on_begin`, `on_commit` and `on_rollback` run with the lock held when a transaction
        of the writer cursor (alone or a batch) begins, has committed, or was rolled back: the
        store keeps what a transaction appended to its audit chain by them, whichever threads
        wrote it. An error of `on_commit` after a batch's commit reaches every member (their
        writes are committed: never redone); after a transaction alone, its caller."""
        self._on_begin = on_begin or (lambda: None)
        self._on_commit = on_commit or (lambda: None)
        self._on_rollback = on_rollback or (lambda: None)
        self._writer = con.cursor()
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queued = 0  # threads waiting for the lock
        self._batch: _Batch | None = None
        self._announced: dict[str, dict[Any, int]] = {}  # table -> key -> writers announcing
        self._types: dict[str, list[str]] = {}
        self.local = threading.local()  # .mode: "group" inside a grouped method
        self._held_since = 0.0
        # Counts, and seconds the lock was held (bodies and commits) and spent committing.
        self.stats: dict[str, float] = {"commits": 0, "writes": 0, "largest_batch": 0,
                                        "redone": 0, "rolled_back": 0, "lock_held_s": 0.0,
                                        "commit_s": 0.0}

    # --- the lock ------------------------------------------------------------------------

    def _acquire(self) -> None:
        with self._queue_lock:
            self._queued += 1
        try:
            self._lock.acquire()
        finally:
            with self._queue_lock:
                self._queued -= 1
        self._held_since = time.monotonic()

    def _release(self) -> None:
        self.stats["lock_held_s"] += time.monotonic() - self._held_since
        self._lock.release()

    def __enter__(self) -> WriteGate:
        self._acquire()
        try:
            self._commit_open()
        except BaseException:
            self._release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    @contextmanager
    def announce(self, table: str, key: Any) -> Iterator[None]:
        """While the block runs: a write that will read `table`'s rows of `key` (read_by_key),
        so that the batch can read them along with other members' in one statement."""
        with self._queue_lock:
            keys = self._announced.setdefault(table, {})
            keys[key] = keys.get(key, 0) + 1
        try:
            yield
        finally:
            with self._queue_lock:
                keys[key] -= 1
                if not keys[key]:
                    del keys[key]

    def announced(self, table: str) -> list[Any]:
        with self._queue_lock:
            return list(self._announced.get(table, ()))

    def column_types(self, cursor: duckdb.DuckDBPyConnection, table: str) -> list[str]:
        """The types of `table`'s columns, in order (read once)."""
        if table not in self._types:
            self._types[table] = [row[0] for row in cursor.execute(
                "SELECT data_type FROM duckdb_columns() WHERE table_name = ? "
                "AND schema_name = 'main' ORDER BY column_index", [table]).fetchall()]
        return self._types[table]

    # --- batches -------------------------------------------------------------------------

    def _commit_open(self) -> None:
        """Commit the open batch, if any (the lock is held)."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if batch.poisoned:
            self._rollback()
            self._fail(batch, RuntimeError("a statement of the batch failed"))
            return
        began = time.monotonic()
        try:
            batch.flush(self._writer)
            self._writer.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            self._fail(batch, exc)
            return
        self.stats["commit_s"] += time.monotonic() - began
        self.stats["commits"] += 1
        self.stats["writes"] += batch.members
        self.stats["largest_batch"] = max(self.stats["largest_batch"], batch.members)
        try:
            self._on_commit()
        except Exception as exc:  # committed: the members are told, none is redone
            batch.after_commit_error = exc
        batch.done.set()

    def _rollback(self) -> None:
        """Roll the writer cursor's transaction back (if it has one); tell the owner."""
        rollback(self._writer)
        self._on_rollback()

    def _fail(self, batch: _Batch, exc: BaseException) -> None:
        self.stats["rolled_back"] += 1
        batch.error = exc
        batch.done.set()

    def _abort(self, batch: _Batch, exc: BaseException) -> None:
        """Roll the open batch back: every member will run again on its own."""
        self._batch = None
        self._rollback()
        self._fail(batch, exc)

    def _settle(self, batch: _Batch) -> None:
        """After a member: commit unless writers are queued to join (and the batch is young)."""
        if self._batch is not batch:
            return
        if (self._queued == 0 or batch.members >= MAX_BATCH
                or time.monotonic() - batch.began >= MAX_BATCH_SECONDS):
            self._commit_open()

    def _wait(self, batch: _Batch) -> None:
        """Until the batch is committed or rolled back; commit it ourselves if nobody does."""
        while not batch.done.wait(MAX_BATCH_SECONDS * 2):
            with self:  # commits the open batch, which may be ours
                pass

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        if getattr(self.local, "mode", None) != "group":
            with self:
                self._writer.execute("BEGIN TRANSACTION")
                self._on_begin()
                try:
                    yield self._writer
                except BaseException:
                    self._rollback()
                    raise
                try:
                    self._writer.execute("COMMIT")
                except BaseException:
                    self._rollback()
                    raise
                self._on_commit()
            return
        self._acquire()
        try:
            batch = self._batch
            if batch is None:
                self._writer.execute("BEGIN TRANSACTION")
                batch = self._batch = _Batch(self)
                self._on_begin()
        except BaseException:
            self._release()
            raise
        cur = TrackingCursor(self._writer, batch)
        try:
            yield cur
        except BaseException as exc:
            try:
                if cur.wrote or batch.poisoned:
                    # Our half-written rows are in the batch and cannot be undone alone.
                    self._abort(batch, exc)
                else:
                    self._settle(batch)  # nothing of ours in it: the batch goes on
            finally:
                self._release()
            if cur.wrote and isinstance(exc, Exception):
                raise Redo() from exc  # run again alone: the error may be another member's
            raise
        batch.members += 1
        if batch.poisoned:  # a statement of ours failed and was caught: the batch is lost
            self._abort(batch, RuntimeError("a statement failed inside a write"))
        try:
            self._settle(batch)
        finally:
            self._release()
        self._wait(batch)
        if batch.error is not None:
            raise Redo() from batch.error
        if batch.after_commit_error is not None:
            raise copy.copy(batch.after_commit_error)

    def close(self) -> None:
        with self:
            self._writer.close()


F = TypeVar("F", bound=Callable[..., Any])


def grouped(method: F | None = None, *,
            announce: Callable[..., tuple[str, Any]] | None = None) -> Any:
    """Let `method` (of an object with a WriteGate at `_write_lock`) join batches.

    Its writes must be one `transaction()`: when its batch is rolled back (Redo), the whole
    method runs again, alone. `announce(*args, **kwargs)` names the (table, key) whose rows
    the method will read with read_by_key, so a batch reads them for all its members at once.
    """
    if method is None:
        return functools.partial(grouped, announce=announce)

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        gate: WriteGate = self._write_lock
        if getattr(gate.local, "mode", None) is not None:
            return method(self, *args, **kwargs)  # called from another write: its batch
        gate.local.mode = "group"
        try:
            with (gate.announce(*announce(*args, **kwargs)) if announce
                  else contextlib.nullcontext()):
                try:
                    return method(self, *args, **kwargs)
                except Redo:
                    gate.stats["redone"] += 1
                    gate.local.mode = "alone"
                    return method(self, *args, **kwargs)
        finally:
            gate.local.mode = None

    return call
