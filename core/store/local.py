"""LocalStore: the embedded DuckDB implementation of the Store interface.

One file per project. Each thread gets its own cursor for reads (DuckDB connections are not
shared across threads); writes go through one writer cursor, one at a time, and concurrent
writes share a commit (core/store/group_commit.py); every write that a user was told is saved
has been committed first. Pair builds, the quality report and exports read a snapshot of their
own and hold the write lock only to record a build (see build_pairs).
"""

from __future__ import annotations

import dataclasses
import functools
import gc
import hashlib
import os
import secrets
import shutil
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from core import language
from core.adjudication import in_review_order, summarise
from core.audit import (
    UNNOTED_ACTION,
    HeadLine,
    build_report,
    head_line,
    heads_path,
    parse_head_lines,
)
from core.config import CONFIG_FILE, Config, annotator_name_problem, load_config
from core.errors import BadInputError, JudgmentError, StoreError, StoreLockedError
from core.judge_models import JudgeOutcome, JudgeRun, JudgeVerdict
from core.models import (
    ITEM_STATUSES,
    Adjudication,
    AnnotatorSummary,
    AuditAnchor,
    AuditHead,
    AuditReport,
    Candidate,
    Disagreement,
    Event,
    ExportCounts,
    ExportRequest,
    Flag,
    GenerationRecord,
    ImportBatch,
    ImportCounts,
    Item,
    ItemDetail,
    ItemFilter,
    ItemJudgment,
    ItemSummary,
    Judgment,
    JudgmentImportCounts,
    PairBuild,
    PairSettings,
    Progress,
    Prompt,
    Provenance,
    QualityFacts,
    RefreshCounts,
    RefreshCriteria,
    RefreshOutcome,
    Removal,
    RowProblem,
    Run,
    SourceFilter,
    SourceImportCounts,
    SourceOptions,
    SourcePreference,
    StoreStatus,
    Turn,
)
from core.store import adjudication as review_sql
from core.store import (
    analytics,
    audit_rows,
    exporting,
    generation,
    imports,
    inventory,
    quality,
    sources,
    validation,
    work,
)
from core.store import judge as judge_sql
from core.store import judgment_import as judgment_sql
from core.store import pairs as pair_sql
from core.store import refresh as refresh_sql
from core.store.api import OPERATIONS
from core.store.generation_journal import GenerationJournal, JournalBatch
from core.store.group_commit import (
    WriteGate,
    deferred_rows,
    grouped,
    read_by_key,
    rollback,
)
from core.store.languages import MISSING, fill_missing_languages
from core.store.migrate import migrate
from core.store.private import make_private
from core.store.sources import common as source_common

SPOOL_FOLDER = ".prefer-spool"  # private: exports wait here until the caller copies them out
EXPORT_CHUNK_BYTES = 4 * 1024 * 1024
MAX_EXCLUDED = 1_000  # next_prompt_id: prompt ids a call may exclude
_CURRENT = "current_judgments"  # the view of migration 006 (re-created by 007)
_IMPORTED_JUDGMENT_TABLES = ("prompts", "candidates", "judgments", "judgment_rankings",
                             "pairwise_judgments")
_IMPORTED_SOURCE_TABLES = ("prompts", "candidates", "source_preferences", "judgments",
                           "judgment_rankings")
_JUDGMENT_COLUMNS = ("judgment_id, annotator, prompt_id, kind, best_candidate_id, worst_candidate_id, "
                     "ranking, dimensions, justification, shown_order, guideline_version, "
                     "seconds_spent, supersedes, created_at")
# work.current_row wants these first; _AS_JUDGMENT_ROW puts them back in _JUDGMENT_COLUMNS order.
_CURRENT_FIRST = ("judgment_id, annotator, kind, supersedes, created_at, prompt_id, "
                  "best_candidate_id, worst_candidate_id, ranking, dimensions, justification, "
                  "shown_order, guideline_version, seconds_spent")
_AS_JUDGMENT_ROW = (0, 1, 5, 2, 6, 7, 8, 9, 10, 11, 12, 13, 3, 4)
_READY = ("(SELECT prompt_id FROM candidates GROUP BY prompt_id HAVING count(*) >= 2)")
_ASSIGNING = "EXISTS (SELECT 1 FROM assignments WHERE released_at IS NULL)"
# An annotator's work: only their assigned prompts while any assignment is active, else all.
_MINE = (f"(NOT {_ASSIGNING} OR EXISTS (SELECT 1 FROM assignments a WHERE a.prompt_id = "
         "p.prompt_id AND a.annotator = ? AND a.released_at IS NULL) "
         "OR EXISTS (SELECT 1 FROM gold_items g WHERE g.prompt_id = p.prompt_id))")
# Items `prefer refresh` re-queued for the annotator (?) that they have not judged again since.
_REQUEUED = refresh_sql.OPEN_REQUEST


def _item_judgments(cur: duckdb.DuckDBPyConnection, prompt_id: str) -> list[tuple]:
    """Every judgments row of the item (_JUDGMENT_COLUMNS), stored or appended earlier in the
    batch (group_commit.append_row; save_judgment inserts at once, for its audit digest):
    through the judgments_by_prompt index, and in a batch read once for every save waiting to
    join it (save_judgment announces its item)."""
    rows = read_by_key(cur, "judgments",
                       f"SELECT {_JUDGMENT_COLUMNS} FROM judgments WHERE prompt_id = ANY(?)", 2,
                       prompt_id)
    return rows + [tuple(r) for r in deferred_rows(cur, "judgments") if r[2] == prompt_id]


def _current_judgment_id(cur: duckdb.DuckDBPyConnection, annotator: str,
                         prompt_id: str) -> str | None:
    """The annotator's current judgment of the item, by the rule of the current_judgments view
    (migration 006: not superseded by any row), from the item's rows (_item_judgments).

    Asking the view for one annotator and item scans every judgment (25-30 ms at 400,000, on
    every save); the item's own rows are a few, found by an index, and they are enough: a
    judgment is only ever superseded by a later one of the same annotator on the same item
    (save_judgment, judgment imports). tests/test_group_commit.py holds the two equal. One
    exception, on purpose: a decision `prefer refresh --to` had another annotator re-make
    (migration 014's refresh_superseded) leaves the item's decisions, but stays its author's
    last word here, so their own revision still supersedes it and their progress counts it.
    """
    rows = _item_judgments(cur, prompt_id)
    superseded = {row[12] for row in rows}
    mine = [row for row in rows if row[1] == annotator and row[0] not in superseded]
    return max(mine, key=lambda row: (row[13], row[0]))[0] if mine else None


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def candidate_id_for(prompt_id: str, text: str) -> str:
    """The content-derived candidate id; the import SQL computes the same (see imports.py)."""
    return "c_" + hashlib.sha256(f"{prompt_id}\x1f{text}".encode()).hexdigest()[:16]


class LocalStore:
    """The store over a DuckDB file this process opens itself (embedded mode)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: str) -> None:
        self._con = con
        self.path = path
        self._local = threading.local()
        # The one writer: `with self._write_lock:` is exclusive use, _transaction() a write
        # (grouped with concurrent ones inside @grouped methods). Its hooks keep the audit's
        # noted events per transaction (a batch is one), not per thread (_note_head).
        self._write_lock = WriteGate(con, on_begin=self._forget_noted,
                                     on_commit=self._note_head, on_rollback=self._forget_noted)
        self._build_lock = threading.Lock()  # one pair build at a time
        self._build_timings: list[dict[str, float]] = []  # seconds per step, latest last
        self._heads_path = heads_path(path)
        self._heads_fd: int | None = None
        # The next event's number and link as of the last commit: this process is the only
        # writer while it holds the file, so writes need not read the chain's end again.
        self._committed_tip: audit_rows.Tip | None = None
        # Events appended in the open write transaction (first seq, last seq, last hash, last
        # time), whichever threads' writes it holds (group commit); read and changed only with
        # the write lock held. Noted in the head file after its COMMIT (_note_head).
        self._noted: tuple[int, int, str, datetime] | None = None
        self._rules: tuple[float, validation.WriteRules] | None = None
        self._spool = Path(path).parent / SPOOL_FOLDER
        self._spool_owners: dict[str, str] = {}  # spool id -> the actor who exported it
        # Generation outcomes: durable in the journal, folded into DuckDB in batches (opened
        # by open() for a writable store, after replaying what a crashed process left).
        self._journal: GenerationJournal | None = None
        self._record_checks = generation.RecordChecks()  # what outcomes were checked against
        self._work_hints = work.WorkHints()  # where each annotator's unjudged items begin

    def rules(self) -> validation.WriteRules:
        """The project's write rules, from prefer.toml beside the database (re-read on change)."""
        config_path = Path(self.path).parent / CONFIG_FILE
        try:
            mtime = config_path.stat().st_mtime
        except OSError:
            mtime = -1.0
        if self._rules is None or self._rules[0] != mtime:
            config = load_config(config_path) if mtime >= 0 else Config()
            self._rules = (mtime, validation.WriteRules(
                tuple(config.project.dimensions), config.annotation.min_justification_chars,
                queue_order=config.annotation.order,
                max_candidates=config.annotation.max_candidates))
        return self._rules[1]

    @classmethod
    def open(cls, path: Path | str, read_only: bool = False) -> LocalStore:
        """Open the DuckDB file, creating and migrating it unless `read_only`.

        From here on the process umask is private and the store's files are the owner's alone
        (core/store/private.py): the database, its WAL and spill files are 0600, folders 0700.
        """
        path = str(path)
        make_private(path)
        try:
            con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(
                    f"{path} is in use by another process",
                    hint="for several people at once, start `prefer serve -p PROJECT`: every "
                         "prefer command then goes through it; else close the other command",
                ) from exc
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc
        except duckdb.Error as exc:
            raise StoreError(f"{path}: cannot open the store: {exc}") from exc
        applied = [] if read_only else migrate(con, after={7: audit_rows.adopt})
        store = cls(con, path)
        if not read_only:
            # Spooled exports are fetched at once; whatever a stopped process left is stale.
            shutil.rmtree(Path(path).parent / SPOOL_FOLDER, ignore_errors=True)
            store._open_heads(upgraded=7 in applied)
            journal = GenerationJournal(path, store._fold_generations)
            journal.replay()  # outcomes a killed process had journaled but not folded
            store._journal = journal
        return store

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()  # folds what waits
            self._journal = None
        self._write_lock.close()
        if self._heads_fd is not None:
            os.close(self._heads_fd)
            self._heads_fd = None
        self._con.close()

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._con.cursor()
            self._local.cursor = cursor
        return cursor

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction, committed before the block's caller returns; inside a
        @grouped method it may share its commit with concurrent writes (group_commit.py).
        The head file is noted after the commit (the gate's on_commit hook: _note_head)."""
        with self._write_lock.transaction() as cur:
            yield cur

    def write_stats(self) -> dict[str, Any]:
        """Commits, writes (grouped into them), the largest batch, writes redone alone, and the
        recent pair builds' timings (seconds: whole, computing, holding the write lock, ...)."""
        return {**self._write_lock.stats, "builds": list(self._build_timings)}

    # --- events ----------------------------------------------------------------------------

    def _append_event(self, cur: duckdb.DuckDBPyConnection, actor: str, action: str,
                      subject: str | None, details: dict[str, Any],
                      tip: audit_rows.Tip | None = None,
                      wrote: dict[str, Any] | None = None) -> Event:
        """Append an event; with `tip` (reserved before writing rows with its seq) and `wrote`
        (their claims per table, see core/store/audit_rows.py) it vouches for those rows."""
        if wrote is not None:
            details = {**details, "wrote": wrote}
        event = audit_rows.append_event(cur, actor, action, subject, details,
                                        tip or self._next_tip(cur))
        if wrote is not None:
            work.follow_write(cur, event.seq, wrote)  # prompts' places in the queue, readiness
        noted = self._noted
        self._noted = (noted[0] if noted else event.seq, event.seq, event.row_hash, event.at)
        return event

    def _next_tip(self, cur: duckdb.DuckDBPyConnection) -> audit_rows.Tip:
        """The number and link of the next event: after this transaction's last one, else after
        the last commit's, else read from the chain."""
        noted = self._noted
        if noted is not None:
            return audit_rows.Tip(noted[1] + 1, noted[2])
        return self._committed_tip or audit_rows.chain_tip(cur)

    def _write_event(self, cur: duckdb.DuckDBPyConnection, tip: audit_rows.Tip,
                     tables: Sequence[str], actor: str, action: str, subject: str | None,
                     details: dict[str, Any]) -> Event:
        """Append the event that wrote rows with `tip.seq` in `tables`, claiming them."""
        return self._append_event(cur, actor, action, subject, details, tip,
                                  audit_rows.claims(cur, tip.seq, tables))

    def _note_head(self) -> None:
        """After a commit: append the new head to the head file, if the write appended events.

        Called with the write lock held (by the gate after it commits a transaction or a
        batch of several threads' writes: one line for the batch), so lines are in chain order.
        """
        noted, self._noted = self._noted, None
        if noted is None:
            return
        first, seq, row_hash, at = noted
        self._committed_tip = audit_rows.Tip(seq + 1, row_hash)
        if self._heads_fd is None:
            return
        try:
            os.write(self._heads_fd, head_line(seq, row_hash, at, seq - first + 1).encode("ascii"))
        except OSError as exc:
            raise StoreError(f"{self._heads_path}: saved, but the audit head could not be noted: "
                             f"{exc.strerror or exc}") from exc

    def _forget_noted(self) -> None:
        """A write transaction began, or was rolled back: no events of it to note."""
        self._noted = None

    def _open_heads(self, upgraded: bool) -> None:
        """Open the head file for appending (created 0600) and make it cover the chain.

        Events it does not cover yet (its lines lost, or events written while it was not kept)
        are noted by one `audit.unnoted` event, which `verify_audit` reports; on the upgrade to
        migration 007 the chain as it is then is noted as the first head.
        """
        if self._heads_path is None:
            return
        noted_through = _last_noted_seq(self._heads_path)
        try:
            self._heads_fd = os.open(self._heads_path,
                                     os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self.close()
            raise StoreError(f"{self._heads_path}: cannot open the audit head file: "
                             f"{exc.strerror or exc}",
                             hint="it sits beside the store and belongs to the store's owner "
                                  "(see docs/audit.md)") from exc
        with self._transaction() as cur:
            head = audit_rows.head(cur)
            if head is None or head[0] <= noted_through:
                return
            if upgraded and noted_through == 0:
                self._noted = (1, *head)
                return
            event = self._append_event(cur, audit_rows.SYSTEM_ACTOR, UNNOTED_ACTION, None, {
                "from": noted_through + 1, "to": head[0],
                "head_file": "missing or empty" if noted_through == 0 else "behind the chain"})
            self._noted = (noted_through + 1, event.seq, event.row_hash, event.at)

    def audit_head(self) -> AuditHead | None:
        """The newest event's seq and hash (what an export manifest and an anchor keep)."""
        head = audit_rows.head(self._cursor())
        return AuditHead(*head) if head else None

    def verify_audit(self, anchors: Sequence[AuditAnchor] = ()) -> AuditReport:
        """Check the chain, every event's rows, the head file and `anchors` (heads kept elsewhere).

        Reads one snapshot: the events and the head file are read under the write lock, so they
        agree; the rows' digests come from the same transaction.
        """
        cur = self._con.cursor()
        try:
            with self._write_lock:
                cur.execute("BEGIN TRANSACTION")
                events = [Event(*row) for row in
                          cur.execute("SELECT * FROM events ORDER BY seq").fetchall()]
                own = _read_own_heads(self._heads_path)
            try:
                digests = {table: audit_rows.digests_by_event(cur, table)
                           for table in audit_rows.COVERED}
                return build_report(
                    events, digests,
                    lambda table, seqs: audit_rows.row_keys(cur, table, seqs, 5),
                    own, anchors)
            finally:
                cur.execute("ROLLBACK")
        except duckdb.Error as exc:
            raise StoreError(f"audit check failed: {exc}") from exc
        finally:
            cur.close()

    @grouped
    def append_event(self, actor: str, action: str, subject: str | None,
                     details: dict[str, Any]) -> Event:
        with self._transaction() as cur:
            return self._append_event(cur, actor, action, subject, details)

    def events(self, limit: int | None = None) -> list[Event]:
        """Events in chain order; with `limit`, only the newest `limit` of them."""
        cur = self._cursor()
        if limit is None:
            rows = cur.execute("SELECT * FROM events ORDER BY seq").fetchall()
        else:
            rows = cur.execute("SELECT * FROM (SELECT * FROM events ORDER BY seq DESC LIMIT ?) "
                               "ORDER BY seq", [limit]).fetchall()
        return [Event(*row) for row in rows]

    # --- prompts and candidates ------------------------------------------------------------

    # --- uploads: files the caller sends, so the store never opens a caller's path -----------

    def upload(self, upload_id: str, data: bytes, actor: str) -> int:
        """Append `data` to the caller's upload `upload_id` (created empty, 0600, on first use);
        return its size so far. An import consumes it."""
        if len(data) > EXPORT_CHUNK_BYTES * 2:
            raise JudgmentError(f"an upload chunk is at most {EXPORT_CHUNK_BYTES * 2} bytes")
        path = self._upload_path(upload_id, actor)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(descriptor, "ab") as handle:
            handle.write(data)
            return handle.tell()

    def _upload_path(self, upload_id: str, actor: str) -> Path:
        return self._spool / ("up_" + validation.record_id("u", actor, upload_id))

    @contextmanager
    def _uploaded(self, upload_id: str, name: str, actor: str) -> Iterator[str]:
        """The path of an upload for the duration of an import; deleted afterwards. Reader
        errors name the caller's file, not the spool."""
        path = self._upload_path(upload_id, actor)
        if not path.is_file():
            raise JudgmentError("no such upload (send the file with upload first)")
        try:
            yield str(path)
        except imports.ReaderFailed as exc:
            raise imports.ReaderFailed(str(exc).replace(str(path), name), exc.line) from None
        finally:
            path.unlink(missing_ok=True)

    def import_file(self, upload_id: str, name: str, kind: str, *, dry_run: bool,
                    actor: str, mapping: dict[str, str] | None = None
                    ) -> RowProblem | ImportCounts:
        """Validate and (unless `dry_run`) store an uploaded file of prompts in one transaction;
        `name` (the caller's path) is recorded as its source; `mapping` renames fields."""
        with self._uploaded(upload_id, name, actor) as path:
            return self._import_prompts(path, name, kind, dry_run=dry_run, actor=actor,
                                        mapping=mapping)

    def _import_prompts(self, path: str, name: str, kind: str, *, dry_run: bool,
                        actor: str, mapping: dict[str, str] | None = None
                        ) -> RowProblem | ImportCounts:
        """Validate and (unless `dry_run`) store a file in one transaction.

        Returns the first bad row instead of storing anything when the file breaks a rule.
        Raises imports.ReaderFailed when DuckDB's reader refuses the file outright.
        """
        cur = self._con.cursor()  # its own connection: temp tables vanish with it
        try:
            ignored: list[str] = []
            if kind == "jsonl":
                keys = imports.jsonl_keys(cur, path)
                problem = imports.mapping_problem(mapping or {}, keys) \
                    or imports.candidates_lookalike([(mapping or {}).get(k, k) for k in keys])
                if problem is None:
                    problem = imports.stage_jsonl(cur, path, mapping)
                if problem is None:
                    ignored = imports.ignored_fields_jsonl(cur)
            elif kind == "csv":
                problem, ignored = imports.stage_csv(cur, path, mapping)
            elif kind == "parquet":
                problem, ignored = imports.stage_parquet(cur, path, mapping)
            else:
                raise ValueError(f"unknown import kind {kind!r}")
            if problem is None:
                problem = imports.first_problem(cur, list(self.rules().dimensions))
            if problem is None:
                problem = validation.too_many_candidates(cur, self.rules().max_candidates)
            if problem is not None:
                return problem
            with self._write_lock:
                cur.execute("BEGIN TRANSACTION")
                try:
                    rows, in_file, new, cands, new_cands = imports.plan_insert(cur)
                    counts = ImportCounts(rows, in_file, new, cands, new_cands, tuple(ignored),
                                          dry_run)
                    if dry_run:
                        cur.execute("ROLLBACK")
                        return counts
                    self._noted = None
                    tip = self._next_tip(cur)
                    imports.insert_planned(cur, name, utc_now(), tip.seq)
                    self._write_event(cur, tip, ("prompts", "candidates"), actor, "import", name, {
                        "rows": rows, "new_prompts": new, "new_candidates": new_cands,
                        "prompts_in_file": in_file, "candidates_in_file": cands,
                    })
                    cur.execute("COMMIT")
                    self._note_head()
                except BaseException:
                    cur.execute("ROLLBACK")
                    self._noted = None
                    raise
            return counts
        finally:
            cur.close()

    def import_judgments(self, upload_id: str, name: str, kind: str, *,
                         mapping: dict[str, str] | None = None, dry_run: bool = False,
                         actor: str) -> RowProblem | JudgmentImportCounts:
        """Validate and (unless `dry_run`) store an uploaded file of judgments made elsewhere."""
        with self._uploaded(upload_id, name, actor) as path:
            return self._import_judgments(path, name, kind, mapping=mapping, dry_run=dry_run,
                                          actor=actor)

    def _import_judgments(self, path: str, name: str, kind: str, *,
                          mapping: dict[str, str] | None, dry_run: bool,
                          actor: str) -> RowProblem | JudgmentImportCounts:
        """Validate and (unless `dry_run`) store judgments made elsewhere, in one transaction.

        Returns the first bad row instead of storing anything (see core/store/judgment_import).
        Raises imports.ReaderFailed when DuckDB's reader refuses the file, BadInputError when
        `mapping` does not fit the file's fields.
        """
        cur = self._con.cursor()
        try:
            source = judgment_sql.read_file(cur, path, kind)
            if source.problem is not None:
                return source.problem
            source = judgment_sql.apply_map(source, mapping or {})
            with self._write_lock:
                cur.execute("BEGIN TRANSACTION")
                try:
                    planned = judgment_sql.plan(cur, source, list(self.rules().dimensions),
                                                dry_run)
                    if isinstance(planned, RowProblem) or dry_run:
                        cur.execute("ROLLBACK")
                        return planned if isinstance(planned, RowProblem) \
                            else planned.counts
                    self._noted = None
                    tip = self._next_tip(cur)
                    rewrites = audit_rows.Rewrites(cur)
                    if planned.replaced_pairwise:
                        rewrites.before("pairwise_judgments", "list_contains(?, pairwise_id)",
                                        [[r[0] for r in planned.replaced_pairwise]])
                    judgment_sql.insert(cur, planned, name, utc_now(), tip.seq)
                    self._write_event(cur, tip, _IMPORTED_JUDGMENT_TABLES, actor,
                                      "import-judgments", name,
                                      {**planned.details(), **rewrites.details()})
                    cur.execute("COMMIT")
                    self._note_head()
                except BaseException:
                    cur.execute("ROLLBACK")
                    self._noted = None
                    raise
            return planned.counts
        finally:
            cur.close()

    def import_source(self, upload_id: str, name: str, file_format: str, source_kind: str, *,
                      mapping: dict[str, str] | None = None,
                      options: SourceOptions = SourceOptions(), dry_run: bool = False,
                      actor: str) -> RowProblem | SourceImportCounts:
        """Validate and (unless `dry_run`) store an uploaded preference source in one
        transaction (see core/store/sources/); the first bad row instead of storing anything."""
        with self._uploaded(upload_id, name, actor) as path:
            return self._import_source(path, name, file_format, source_kind, mapping=mapping,
                                       options=options, dry_run=dry_run, actor=actor)

    def _import_source(self, path: str, name: str, file_format: str, source_kind: str, *,
                       mapping: dict[str, str] | None, options: SourceOptions, dry_run: bool,
                       actor: str) -> RowProblem | SourceImportCounts:
        kind = sources.kind_named(source_kind)
        if kind is None:
            raise BadInputError(f"unknown import kind '{source_kind}'",
                                hint=f"one of: prompts, {', '.join(sources.KINDS)}")
        if not 0 <= options.max_p <= 1:
            raise BadInputError(f"--max-p {options.max_p:g}: expected a number from 0 to 1")
        cur = self._con.cursor()
        gc_was_on = gc.isenabled()
        gc.disable()  # a million small rows, no cycles: the collector would only cost time
        try:
            stream = source_common.RowStream(cur, path, file_format, mapping or {})
            collected = source_common.Collected(source_kind, tuple(self.rules().dimensions))
            try:
                kind.read(stream, collected, options)
            except source_common.LineBad as bad:
                stream.check_map()  # a mapped field no row had so far explains more
                return bad.problem
            stream.check_map()
            collected.rows = stream.count
            ignored = stream.ignored_fields(kind.fields)
            with self._write_lock:
                cur.execute("BEGIN TRANSACTION")
                try:
                    planned = source_common.plan(cur, collected, options, ignored, dry_run)
                    if isinstance(planned, RowProblem) or dry_run:
                        cur.execute("ROLLBACK")
                        return planned if isinstance(planned, RowProblem) else planned.counts
                    self._noted = None
                    tip = self._next_tip(cur)
                    source_common.insert(cur, planned, name, utc_now(), tip.seq)
                    self._write_event(cur, tip, _IMPORTED_SOURCE_TABLES, actor, "import-source",
                                      name, planned.details())
                    cur.execute("COMMIT")
                    self._note_head()
                except BaseException:
                    cur.execute("ROLLBACK")
                    self._noted = None
                    raise
            return planned.counts
        finally:
            if gc_was_on:
                gc.enable()
            cur.close()

    def refresh(self, criteria: RefreshCriteria, *, dry_run: bool = False,
                actor: str) -> RefreshCounts:
        """Re-queue the items whose current decisions are stale (see core/store/refresh.py)."""
        if criteria.older_than is None and criteria.guideline is None:
            raise BadInputError("refresh needs --older-than or --guideline-before")
        for name in criteria.to:
            problem = annotator_name_problem(name)
            if problem:
                raise BadInputError(f"--to: {problem}")
        with self._transaction() as cur:
            found = refresh_sql.stale(cur, criteria.older_than, criteria.guideline)
            rows: list[tuple[str, str, str, str]] = []
            by_dimension: dict[str, int] = {}
            by_annotator: dict[str, int] = {}
            # One request per stale decision and annotator asked: with --to, each stale
            # decision on the item is superseded by the asked annotator's new one
            # (migration 014's refresh_superseded); the counts are of items and annotators.
            for judgment_id, annotator, prompt_id, _dimension in found:
                for asked in criteria.to or (annotator,):
                    rows.append((refresh_sql.request_id_for(prompt_id, asked, judgment_id),
                                 prompt_id, asked, judgment_id))
            queued = refresh_sql.existing(cur, [r[0] for r in rows])
            new_rows = [r for r in rows if r[0] not in queued]
            asked_pairs = {(r[1], r[2]) for r in rows}
            new_pairs = sorted({(r[1], r[2]) for r in new_rows})
            dimension_of = {prompt_id: dimension for _, _, prompt_id, dimension in found}
            for prompt_id, asked in new_pairs:
                by_dimension[dimension_of[prompt_id]] = by_dimension.get(
                    dimension_of[prompt_id], 0) + 1
                by_annotator[asked] = by_annotator.get(asked, 0) + 1
            counts = RefreshCounts(len(found), len(new_pairs), len(asked_pairs) - len(new_pairs),
                                   len({p for p, _ in new_pairs}),
                                   dict(sorted(by_dimension.items())),
                                   dict(sorted(by_annotator.items())), dry_run)
            if dry_run or not new_rows:
                return counts
            reason = ", ".join(
                ([f"older than {criteria.older_than:%Y-%m-%d %H:%M}"] if criteria.older_than
                 else []) + ([f"guidelines before {criteria.guideline}"] if criteria.guideline
                             else []))
            tip = self._next_tip(cur)
            refresh_sql.insert(cur, new_rows, reason, actor, utc_now(), tip.seq)
            self._write_event(cur, tip, ("refresh_requests",), actor, "refresh", None, {
                "reason": reason, "to": list(criteria.to), "requests": counts.requests,
                "items": counts.items, "by_dimension": counts.by_dimension,
                "by_annotator": counts.by_annotator})
            return counts

    def pre_label_outcomes(self) -> list[tuple[str, int, int, int]]:
        """Per import kind: (kind, judged by an expert, confirmed, overturned)."""
        return source_common.pre_label_outcomes(self._cursor())

    def refresh_outcomes(self) -> list[RefreshOutcome]:
        return [RefreshOutcome(*r[:7], *(None if g is None else tuple(tuple(x) for x in g)
                                         for g in r[7:]))
                for r in refresh_sql.outcomes(self._cursor())]

    def fill_missing_languages(self, actor: str = audit_rows.SYSTEM_ACTOR) -> int:
        """Detect the languages rows stored without one lack; return rows updated.

        Prompts get language_source ('given' when a language is stored, else the detected one
        and 'detected'), candidates their language (see core/store/languages.py); the rows
        changed move to one `languages.fill` event, appended only when some were.
        """
        with self._transaction() as cur:
            return self._fill_languages(cur, actor)

    def _fill_languages(self, cur: duckdb.DuckDBPyConnection, actor: str) -> int:
        tip = self._next_tip(cur)
        rewrites = audit_rows.Rewrites(cur)
        for table, missing in MISSING.items():
            rewrites.before(table, missing, [])
        filled = fill_missing_languages(cur, tip.seq)
        if filled:
            self._write_event(cur, tip, tuple(MISSING), actor, "languages.fill", None,
                              {"rows_updated": filled, **rewrites.details()})
        return filled

    def get_item(self, prompt_id: str) -> Item | None:
        cur = self._cursor()
        row = cur.execute("SELECT prompt_id, prompt, system, dimension, language, source, turns "
                          "FROM prompts WHERE prompt_id = ?", [prompt_id]).fetchone()
        if row is None:
            return None
        row = (*row[:6], tuple(Turn(t["role"], t["content"]) for t in row[6] or ()))
        cands = cur.execute("SELECT candidate_id, prompt_id, position, text, origin "
                            "FROM candidates WHERE prompt_id = ? ORDER BY position",
                            [prompt_id]).fetchall()
        return Item(Prompt(*row), tuple(Candidate(*c) for c in cands))

    # --- work ------------------------------------------------------------------------------

    def next_prompt_id(self, annotator: str, exclude: tuple[str, ...] = ()) -> str | None:
        """The next item for `annotator`: not yet judged by them, items they skipped last.

        In import order this reads a few rows however large the project (core/store/work.py).
        With annotation.order = "informative" (the judge's least certain items first), or while
        `prefer refresh` has put items back in this annotator's queue, one query over the
        project orders the queue instead.
        """
        if len(exclude) > MAX_EXCLUDED:
            # The screen excludes the item on screen and those saving behind it: a few. A caller
            # sending a million would hold a server thread for seconds.
            raise BadInputError(f"exclude: at most {MAX_EXCLUDED:,} prompt ids "
                                f"({len(exclude):,} sent)")
        cur = self._cursor()
        queue_order = self.rules().queue_order
        if queue_order == "import" and not self._has_requeued(cur, annotator):
            return work.next_prompt_id(cur, self._work_hints, annotator, exclude,
                                       self._known_head())
        join, order = _queue_order(queue_order)
        row = cur.execute(
            f"""
            SELECT p.prompt_id FROM prompts p
            JOIN {_READY} r USING (prompt_id)
            LEFT JOIN (SELECT prompt_id, kind FROM {_CURRENT} WHERE annotator = ?) c
                   USING (prompt_id)
            {join}
            WHERE (c.kind IS NULL OR c.kind = 'skipped' OR {_REQUEUED})
              AND NOT list_contains(?, p.prompt_id) AND ({_MINE} OR {_REQUEUED})
            ORDER BY c.kind IS NOT NULL, {order}p.imported_at, p.source, p.source_line,
                     p.prompt_id
            LIMIT 1
            """,
            [annotator, annotator, list(exclude), annotator, annotator],
        ).fetchone()
        return row[0] if row else None

    @staticmethod
    def _has_requeued(cur: duckdb.DuckDBPyConnection, annotator: str) -> bool:
        """Whether `prefer refresh` put an item back in the annotator's queue that they have not
        judged again since (refresh_requests is small: one row per re-queued item)."""
        row = cur.execute(
            "SELECT 1 FROM refresh_requests q WHERE q.annotator = ? AND NOT EXISTS (SELECT 1 "
            "FROM judgments n WHERE n.prompt_id = q.prompt_id AND n.annotator = q.annotator "
            "AND n.created_at > q.requested_at) LIMIT 1", [annotator]).fetchone()
        return row is not None

    def _known_head(self) -> int | None:
        """The newest committed event's seq, when this process wrote last (it is the only
        writer while it holds the file); None when not known yet."""
        tip = self._committed_tip
        return tip.seq - 1 if tip is not None else None

    def progress(self, annotator: str) -> Progress:
        cur = self._cursor()
        judged, skipped = work.judged_counts(cur, annotator)
        assigning = work.assigning(cur)
        assigned = cur.execute("SELECT count(*) FROM assignments WHERE annotator = ? AND "
                               "released_at IS NULL", [annotator]).fetchone()
        return Progress(annotator, judged, skipped, work.queue_size(cur, annotator), assigning,
                        int(assigned[0]) if assigned else 0)

    def is_assigned(self, annotator: str, prompt_id: str) -> bool:
        """Whether `annotator` may work on `prompt_id` (always, while nothing is assigned; and
        an item `prefer refresh` put back in their queue)."""
        cur = self._cursor()
        if work.is_assigned(cur, annotator, prompt_id):
            return True
        row = cur.execute("SELECT 1 FROM refresh_requests WHERE prompt_id = ? AND annotator = ? "
                          "LIMIT 1", [prompt_id, annotator]).fetchone()
        return row is not None

    # --- assignments -----------------------------------------------------------------------

    def assignable_prompt_ids(self) -> list[str]:
        """Prompts ready to annotate that nobody is assigned to, in import order."""
        rows = self._cursor().execute(
            f"""
            SELECT p.prompt_id FROM prompts p JOIN {_READY} USING (prompt_id)
            WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.prompt_id = p.prompt_id
                              AND a.released_at IS NULL)
            ORDER BY p.imported_at, p.source, p.source_line, p.prompt_id
            """).fetchall()
        return [r[0] for r in rows]

    def assignment_loads(self) -> dict[str, int]:
        """Active assignments per annotator."""
        return dict(self._cursor().execute(
            "SELECT annotator, count(*) FROM assignments WHERE released_at IS NULL "
            "GROUP BY annotator").fetchall())

    @grouped
    def add_assignments(self, pairs: Sequence[tuple[str, str]], actor: str,
                        details: dict[str, Any]) -> str:
        """Record (prompt_id, annotator) assignments as one batch; return the batch id."""
        batch_id = "a_" + hashlib.sha256(repr((utc_now(), pairs)).encode()).hexdigest()[:12]
        now = utc_now()
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            cur.execute("INSERT INTO assignments SELECT unnest(?::VARCHAR[]), "
                        "unnest(?::VARCHAR[]), ?, ?, ?, NULL, ?",
                        [[p for p, _ in pairs], [a for _, a in pairs], batch_id, actor, now,
                         tip.seq])
            self._write_event(cur, tip, ("assignments",), actor, "assign", batch_id,
                              {**details, "assignments": len(pairs)})
        return batch_id

    @grouped
    def release_open_assignments(self, annotator: str, actor: str) -> int:
        """Free `annotator`'s assigned items they have not ranked yet; return how many."""
        open_items = (f"annotator = ? AND released_at IS NULL AND prompt_id NOT IN (SELECT "
                      f"prompt_id FROM {_CURRENT} WHERE annotator = ? AND kind <> 'skipped')")
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            rewrites = audit_rows.Rewrites(cur)
            rewrites.before("assignments", open_items, [annotator, annotator])
            row = cur.execute(f"UPDATE assignments SET released_at = ?, event_seq = ? "
                              f"WHERE {open_items} RETURNING prompt_id",
                              [utc_now(), tip.seq, annotator, annotator]).fetchall()
            self._write_event(cur, tip, ("assignments",), actor, "unassign", annotator,
                              {"released": len(row), **rewrites.details()})
        return len(row)

    # --- judgments -------------------------------------------------------------------------

    def current_judgment(self, annotator: str, prompt_id: str) -> Judgment | None:
        """The annotator's current judgment of the item, from the item's own rows."""
        cur = self._cursor()
        row = work.current_row(cur, annotator, prompt_id, _CURRENT_FIRST)
        if row is None:
            return None
        judgment = _judgment(tuple(row[col] for col in _AS_JUDGMENT_ROW))
        groups = cur.execute("SELECT groups FROM judgment_rankings WHERE judgment_id = ?",
                             [judgment.judgment_id]).fetchone()
        if groups:
            judgment = dataclasses.replace(
                judgment, groups=tuple(tuple(group) for group in groups[0]))
        return judgment

    def judgments_of(self, annotator: str, include_superseded: bool = False) -> list[Judgment]:
        """An annotator's own judgments, oldest first."""
        source = "judgments" if include_superseded else _CURRENT
        rows = self._cursor().execute(
            f"SELECT {_JUDGMENT_COLUMNS} FROM {source} WHERE annotator = ? "
            "ORDER BY created_at, judgment_id",
            [annotator],
        ).fetchall()
        return [_judgment(r) for r in rows]

    @grouped(announce=lambda judgment, actor=None: ("judgments", judgment.prompt_id))
    def save_judgment(self, judgment: Judgment, actor: str | None = None) -> Judgment:
        """Append a judgment; it supersedes the annotator's current one for the item.

        Validated first (core/store/validation.py). The stored id is made from the annotator
        and the client's judgment_id (its retry key): saving the same key twice stores the
        judgment once and returns it; a key reused for a different judgment is refused.
        Committed (with its audit event) before returning.
        """
        stored_id = validation.record_id("j", judgment.annotator, judgment.judgment_id)
        rules = self.rules()
        with self._transaction() as cur:
            validation.check_judgment(judgment, review_sql.candidate_ids(cur, judgment.prompt_id,
                                                                         limit=None), rules)
            existing = cur.execute(f"SELECT {_JUDGMENT_COLUMNS} FROM judgments "
                                   "WHERE judgment_id = ?", [stored_id]).fetchone()
            judgment = dataclasses.replace(judgment, judgment_id=stored_id)
            if existing:
                return _same_write(_judgment(existing), judgment, "judgment", (
                    "prompt_id", "kind", "best_candidate_id", "worst_candidate_id", "ranking",
                    "dimensions", "justification"))
            supersedes = _current_judgment_id(cur, judgment.annotator, judgment.prompt_id)
            if supersedes is not None and judgment.kind == "ranked":
                current_row = cur.execute(f"SELECT {_JUDGMENT_COLUMNS} FROM judgments "
                                          "WHERE judgment_id = ?", [supersedes]).fetchone()
                current = _judgment(current_row) if current_row else None
                if current is not None and _same_decision(current, judgment):
                    return current  # saved again without a change: not a revision
            created_at = utc_now()
            tip = self._next_tip(cur)
            # Inserted now, not deferred to the batch's commit: the event's digest reads it.
            cur.execute(
                "INSERT INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [judgment.judgment_id, judgment.annotator, judgment.prompt_id, judgment.kind,
                 judgment.best_candidate_id, judgment.worst_candidate_id,
                 list(judgment.ranking) if judgment.ranking is not None else None,
                 list(judgment.dimensions), judgment.justification, list(judgment.shown_order),
                 judgment.guideline_version, judgment.seconds_spent, supersedes, created_at,
                 tip.seq],
            )
            claims = {"judgments": audit_rows.claim_of(
                [audit_rows.row_hash(cur, "judgments", judgment.judgment_id)])}
            if judgment.groups is not None:
                # A rank-mode ranking with ties: its groups, as imported rankings keep them.
                cur.execute("INSERT INTO judgment_rankings VALUES (?, ?, ?)",
                            [judgment.judgment_id, [list(g) for g in judgment.groups], tip.seq])
                claims["judgment_rankings"] = audit_rows.claim_of(
                    [audit_rows.row_hash(cur, "judgment_rankings", judgment.judgment_id)])
            action = "judgment.revise" if supersedes else f"judgment.{judgment.kind}"
            self._append_event(cur, actor or judgment.annotator, action, judgment.prompt_id, {
                "judgment_id": judgment.judgment_id, "supersedes": supersedes,
            }, tip, claims)
        return Judgment(**{**judgment.__dict__, "supersedes": supersedes,
                           "created_at": created_at})

    # --- disagreements, adjudications and flags ----------------------------------------------

    def item_judgments(self, prompt_id: str) -> list[ItemJudgment]:
        """Every current judgment on an item, by every annotator, oldest first (for reviewers)."""
        return review_sql.item_judgments(self._cursor(), [prompt_id])

    def disagreements(self, include_adjudicated: bool = False) -> list[Disagreement]:
        """Items whose annotators disagree (core/adjudication.py) or that have open flags.

        Unresolved items first, in import order; adjudicated ones only with `include_adjudicated`.
        """
        cur = self._cursor()
        contested = review_sql.contested_items(cur)
        by_prompt: dict[str, list[ItemJudgment]] = {}
        for judgment in review_sql.item_judgments(cur, [row[0] for row in contested]):
            by_prompt.setdefault(judgment.prompt_id, []).append(judgment)
        found = []
        for prompt_id, prompt, open_flags, adjudicated in contested:
            item = summarise(prompt_id, prompt, by_prompt.get(prompt_id, []), open_flags,
                             adjudicated)
            if item is not None and (include_adjudicated or item.unresolved):
                found.append(item)
        return in_review_order(found)

    def current_adjudication(self, prompt_id: str) -> Adjudication | None:
        """The latest adjudication of an item: the decision its pairs are built from."""
        return review_sql.latest_adjudication(self._cursor(), prompt_id)

    @grouped
    def save_adjudication(self, adjudication: Adjudication, resolve_flags: Sequence[str] = (),
                          actor: str | None = None) -> Adjudication:
        """Store a reviewer's decision on an item; the note also resolves `resolve_flags`.

        Committed with its audit event ("adjudicate") before returning; it supersedes the item's
        earlier adjudication. Saving the same adjudication_id twice stores it once.
        """
        note = adjudication.note.strip()
        if not note:
            raise JudgmentError("an adjudication needs a note saying why")
        best, worst, groups = (adjudication.best_candidate_id, adjudication.worst_candidate_id,
                               adjudication.groups)
        if groups and len(groups) > 1:
            best = best or (groups[0][0] if len(groups[0]) == 1 else None)
            worst = worst or (groups[-1][0] if len(groups[-1]) == 1 else None)
        if not groups and (best is None or worst is None):
            raise JudgmentError("an adjudication names the best and the worst (or a ranking)")
        if best is not None and best == worst:
            raise JudgmentError("best and worst must be different responses")
        validation.check_adjudication(adjudication)
        adjudication = dataclasses.replace(adjudication, note=note, adjudication_id=validation.record_id(
            "adj", adjudication.reviewer, adjudication.adjudication_id))
        with self._transaction() as cur:
            existing = review_sql.adjudication_by_id(cur, adjudication.adjudication_id)
            if existing:
                return _same_write(existing, adjudication, "adjudication",
                                   ("prompt_id", "note"))
            allowed = set(review_sql.candidate_ids(cur, adjudication.prompt_id))
            named = {best, worst, *(c for group in groups or () for c in group)} - {None}
            if not allowed or not named <= allowed:
                raise JudgmentError(f"not a candidate of item {adjudication.prompt_id}: "
                                    f"{', '.join(sorted(str(c) for c in named - allowed))}")
            previous = review_sql.latest_adjudication(cur, adjudication.prompt_id)
            stored = Adjudication(**{
                **adjudication.__dict__, "note": note, "best_candidate_id": best,
                "worst_candidate_id": worst, "created_at": utc_now(),
                "guideline_change": (adjudication.guideline_change or "").strip() or None,
                "supersedes": previous.adjudication_id if previous else None})
            # Flags first: each resolution is its own event, before the one that writes the row.
            resolved = [self._resolve_flag(cur, flag_id, adjudication.prompt_id,
                                           adjudication.reviewer, note, actor)
                        for flag_id in resolve_flags]
            tip = self._next_tip(cur)
            review_sql.insert_adjudication(cur, stored, tip.seq)
            self._write_event(cur, tip, ("adjudications",), actor or adjudication.reviewer,
                              "adjudicate", adjudication.prompt_id, {
                                   "adjudication_id": stored.adjudication_id,
                                   "best": best, "worst": worst,
                                   "groups": [list(g) for g in groups] if groups else None,
                                   "supersedes": stored.supersedes,
                                   "guideline_change": stored.guideline_change,
                                   "resolved_flags": [f.flag_id for f in resolved if f]})
        return stored

    @grouped
    def save_flag(self, flag: Flag, actor: str | None = None) -> Flag:
        """Record an annotator's flag on an item (open until resolved); committed on return."""
        note = flag.note.strip()
        flag = dataclasses.replace(flag, flag_id=validation.record_id("f", flag.annotator,
                                                                      flag.flag_id), note=note)
        with self._transaction() as cur:
            validation.check_flag(flag, review_sql.candidate_ids(cur, flag.prompt_id))
            existing = review_sql.flag_by_id(cur, flag.flag_id)
            if existing:
                return _same_write(existing, flag, "flag", ("prompt_id", "note"))
            stored = Flag(flag.flag_id, flag.annotator, flag.prompt_id, note, utc_now())
            tip = self._next_tip(cur)
            review_sql.insert_flag(cur, stored, stored.created_at or utc_now(), tip.seq)
            self._write_event(cur, tip, ("flags",), actor or flag.annotator, "flag",
                              flag.prompt_id, {"flag_id": flag.flag_id})
        return stored

    def flags_of(self, annotator: str) -> list[Flag]:
        """An annotator's own flags, open and resolved, oldest first."""
        return review_sql.flags_of(self._cursor(), annotator)

    def open_flags(self, prompt_id: str | None = None) -> list[Flag]:
        """Flags not resolved yet (of one item, or all), oldest first."""
        return review_sql.flags(self._cursor(), prompt_id, open_only=True)

    @grouped
    def resolve_flag(self, flag_id: str, resolved_by: str, resolution: str,
                     actor: str | None = None) -> Flag:
        """Close a flag with a reviewer's note; resolving a resolved flag changes nothing."""
        validation.check_resolution(resolution)
        with self._transaction() as cur:
            flag = self._resolve_flag(cur, flag_id, None, resolved_by, resolution.strip(), actor)
        if flag is None:
            raise JudgmentError(f"no flag {flag_id}")
        return flag

    def _resolve_flag(self, cur: duckdb.DuckDBPyConnection, flag_id: str, prompt_id: str | None,
                      resolved_by: str, resolution: str, actor: str | None) -> Flag | None:
        flag = review_sql.flag_by_id(cur, flag_id)
        if flag is None or (prompt_id is not None and flag.prompt_id != prompt_id):
            raise JudgmentError(f"no flag {flag_id}" + (f" on item {prompt_id}" if prompt_id else ""))
        if flag.resolution is not None:
            return flag
        at = utc_now()
        tip = self._next_tip(cur)
        review_sql.insert_resolution(cur, flag_id, resolved_by, resolution, at, tip.seq)
        self._write_event(cur, tip, ("flag_resolutions",), actor or resolved_by, "flag.resolve",
                          flag.prompt_id, {"flag_id": flag_id})
        return Flag(**{**flag.__dict__, "resolved_by": resolved_by, "resolution": resolution,
                       "resolved_at": at})

    # --- reports ---------------------------------------------------------------------------

    def status(self) -> StoreStatus:
        cur = self._cursor()
        row = cur.execute(
            f"""
            SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM {_READY}),
                   (SELECT count(*) FROM candidates),
                   (SELECT count(*) FROM {_CURRENT} WHERE kind = 'ranked'),
                   (SELECT count(*) FROM {_CURRENT} WHERE kind = 'skipped'),
                   (SELECT count(*) FROM judgments WHERE supersedes IS NOT NULL),
                   (SELECT count(*) FROM events WHERE action = 'export'),
                   (SELECT count(*) FROM events),
                   (SELECT count(*) FROM assignments WHERE released_at IS NULL),
                   (SELECT count(*) FROM flags f WHERE NOT EXISTS
                        (SELECT 1 FROM flag_resolutions r WHERE r.flag_id = f.flag_id))
            """
        ).fetchone()
        assert row is not None
        annotators = [r[0] for r in cur.execute(
            "SELECT annotator FROM judgments UNION SELECT annotator FROM assignments "
            "UNION SELECT annotator FROM pairwise_judgments UNION SELECT annotator FROM flags "
            "ORDER BY annotator").fetchall()]
        disputed, flagged = self._review_sets()
        by_dim = dict(cur.execute(
            "SELECT coalesce(dimension, '(none)'), count(*) FROM prompts GROUP BY 1 ORDER BY 1"
        ).fetchall())
        by_lang = dict(cur.execute(
            "SELECT coalesce(language, '(unknown)'), count(*) FROM prompts GROUP BY 1 ORDER BY 1"
        ).fetchall())
        return StoreStatus(
            prompts=row[0], prompts_ready=row[1], candidates=row[2], judgments=row[3],
            skips=row[4], superseded=row[5],
            annotators=tuple(self.progress(a) for a in annotators),
            prompts_by_dimension=by_dim, prompts_by_language=by_lang, exports=row[6],
            events=row[7], assignments=row[8], open_flags=row[9],
            held_back=len(disputed | flagged),
        )

    # --- looking inside and undoing ----------------------------------------------------------

    def ids_with_prefix(self, kind: str, prefix: str, limit: int = 10) -> list[str]:
        if kind not in ("prompt", "candidate"):
            raise BadInputError(f"ids_with_prefix: unknown kind {kind!r} (prompt or candidate)")
        return inventory.ids_with_prefix(self._cursor(), kind, prefix, max(1, min(limit, 100)))

    def _review_sets(self) -> tuple[set[str], set[str]]:
        """(disputed and undecided, with an open flag): the items that give no pairs."""
        disputed, flagged = set(), set()
        for item in self.disagreements():
            if item.open_flags:
                flagged.add(item.prompt_id)
            if item.differs_on and not item.adjudicated:
                disputed.add(item.prompt_id)
        return disputed, flagged

    def list_items(self, where: ItemFilter) -> list[ItemSummary]:
        if where.status is not None and where.status not in ITEM_STATUSES:
            raise BadInputError(f"unknown status {where.status!r} (one of: {', '.join(ITEM_STATUSES)})")
        disputed, flagged = self._review_sets()
        return inventory.list_items(self._cursor(), where, disputed, flagged)

    def item_detail(self, prompt_id: str) -> ItemDetail | None:
        item = self.get_item(prompt_id)
        if item is None:
            return None
        cur = self._cursor()
        imported_at, sources, assigned, gold, pairs, build_id = inventory.item_facts(cur,
                                                                                     prompt_id)
        disagreement = next((d for d in self.disagreements(include_adjudicated=True)
                             if d.prompt_id == prompt_id), None)
        return ItemDetail(
            item=item, imported_at=imported_at, candidate_sources=sources,
            provenance=self.provenance([c.candidate_id for c in item.candidates]),
            judgments=tuple(self.item_judgments(prompt_id)),
            adjudication=self.current_adjudication(prompt_id),
            flags=tuple(review_sql.flags(cur, prompt_id, open_only=False)),
            assigned_to=tuple(assigned), gold=gold, disagreement=disagreement,
            pairs=tuple(pairs), build_id=build_id)

    def import_batches(self) -> list[ImportBatch]:
        return inventory.import_batches(self._cursor())

    @grouped
    def remove_import(self, seq: int, with_judgments: bool, actor: str) -> Removal:
        with self._transaction() as cur:
            found = inventory.import_batches(cur, seq)
            if not found:
                raise BadInputError(f"no import batch i{seq}",
                                 hint="`prefer imports` lists the batches")
            batch = found[0]
            what = f"import batch i{seq} ({batch.file})"
            dependents = inventory.batch_dependents(cur, seq)
            if dependents and not with_judgments:
                return Removal(what, {}, None, refused=(
                    f"{what} has work that depends on its rows: "
                    f"{inventory.describe_dependents(dependents)}"))
            tip = self._next_tip(cur)
            rewrites = audit_rows.Rewrites(cur)
            removed = inventory.remove_batch(cur, seq, rewrites)
            work.rebuild(cur)  # the queue's places: the batch's prompts and candidates are gone
            event = self._append_event(cur, actor, "import.remove", batch.file, {
                **inventory.details_of(removed, batch=seq, kind=batch.kind,
                                       with_judgments=with_judgments),
                **rewrites.details()}, tip)
        return Removal(what, removed, event.seq)

    def annotator_summaries(self) -> list[AnnotatorSummary]:
        return inventory.annotator_summaries(self._cursor())

    @grouped
    def remove_annotator(self, annotator: str, drop_judgments: bool, actor: str) -> Removal:
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            rewrites = audit_rows.Rewrites(cur)
            removed = inventory.remove_annotator_rows(cur, annotator, drop_judgments, rewrites,
                                                      tip.seq, utc_now())
            event = self._append_event(cur, actor, "annotator.remove", annotator, {
                **inventory.details_of(removed, drop_judgments=drop_judgments),
                **rewrites.details()}, tip,
                audit_rows.claims(cur, tip.seq, ("assignments",)))
        return Removal(f"annotator {annotator}", removed, event.seq)

    # --- generation runs -------------------------------------------------------------------

    def prompts_for_generation(self, limit: int | None = None) -> list[Prompt]:
        """Prompts in import order (the first `limit` of them)."""
        rows = self._cursor().execute(
            "SELECT prompt_id, prompt, system, dimension, language, source FROM prompts "
            "ORDER BY imported_at, source, source_line, prompt_id LIMIT ?",
            [limit if limit is not None else 2**62],
        ).fetchall()
        return [Prompt(*row) for row in rows]

    def generation_done_keys(self, model: str) -> set[tuple[str, str]]:
        return generation.done_keys(self._cursor(), model)

    @grouped
    def start_run(self, run: Run) -> None:
        # Outcomes are folded with their detected language: load the detector (~1 s) on a
        # thread of its own meanwhile, so the run's requests go out at once and the first fold
        # (seconds later: the journal holds outcomes until then) finds it loaded. (run_generation
        # loads it before the run, beside the pre-flight check: then this thread finds it loaded
        # and ends at once; it is here for runs started otherwise, e.g. through `prefer serve`.)
        threading.Thread(target=language.preload, name="prefer-language-preload",
                         daemon=True).start()
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            generation.insert_run(cur, run, tip.seq)
            self._write_event(cur, tip, ("runs",), run.actor, "generate.start", run.run_id, {
                "model": run.model, "hosts": list(run.hosts), "variants": list(run.variants),
                "planned": run.planned, "skipped": run.skipped})

    @property
    def journals_generations(self) -> bool:
        """`record_generations` appends to the journal (returns in microseconds): a writable
        store."""
        return self._journal is not None

    def record_generations(self, records: Sequence[GenerationRecord],
                           actor: str | None = None) -> None:
        """Store a batch of request outcomes durably: checked, then appended to the generation
        journal (core/store/generation_journal.py: they survive the process's death once this
        returns, power loss once the journal's thread fsyncs them, within 0.1 s), folded into
        DuckDB in batches by that thread (one transaction and one `generate.batch` event per
        fold).

        Readers that need every outcome (done keys, runs, finish_run) fold what waits first.
        """
        if not records:
            return
        self._record_checks.check(self._cursor, records)
        if self._journal is None:  # a store opened without one (read-only): write at once
            self._fold_generations([JournalBatch(tuple(records), actor)])
        else:
            self._journal.append(records, actor)

    def _fold_generations(self, batches: Sequence[JournalBatch]) -> None:
        """Commit journaled outcomes: one transaction per (run, actor) in arrival order."""
        groups: dict[tuple[str, str | None], list[GenerationRecord]] = {}
        for batch in batches:
            for record in batch.records:
                groups.setdefault((record.run_id, batch.actor), []).append(record)
        for (_, actor), records in groups.items():
            self._store_generations(records, actor)

    def _flush_generations(self) -> None:
        if self._journal is not None:
            self._journal.flush()

    @grouped
    def _store_generations(self, records: Sequence[GenerationRecord],
                           actor: str | None = None) -> None:
        """Store a batch of request outcomes and their candidates in one transaction.

        One `generate.batch` event (by `actor`, else the run's) vouches for the rows written;
        a batch that writes nothing (folded again after a crash, sent again after a dropped
        connection) appends none.
        """
        # Stored stripped and in NFC like imported texts (core.text); the content-derived id is
        # that of the stored text.
        records = [_stored_text(r) for r in records]
        candidate_ids = [candidate_id_for(r.prompt_id, r.text)
                         if r.status == "ok" and r.text else None for r in records]
        run_id = records[0].run_id
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            generation.insert_records(cur, records, candidate_ids, f"run:{run_id}", tip.seq)
            wrote = audit_rows.claims(cur, tip.seq, ("candidates", "generations"))
            if any(claim["count"] for claim in wrote.values()):
                if actor is None:
                    row = cur.execute("SELECT actor FROM runs WHERE run_id = ?", [run_id]).fetchone()
                    actor = row[0] if row else audit_rows.SYSTEM_ACTOR
                self._append_event(cur, actor, "generate.batch", run_id,
                                   {"records": len(records)}, tip, wrote)

    def finish_run(self, run_id: str, status: str, actor: str) -> Run:
        self._flush_generations()  # its counts cover every outcome journaled
        self._record_checks.forget()  # read again by the next run: memory back meanwhile
        return self._finish_run(run_id, status, actor)

    @grouped
    def _finish_run(self, run_id: str, status: str, actor: str) -> Run:
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            rewrites = audit_rows.Rewrites(cur)
            rewrites.before("runs", "run_id = ?", [run_id])
            generation.finish_run(cur, run_id, status, utc_now(), tip.seq)
            run = next(r for r in generation.list_runs(cur, 2**31) if r.run_id == run_id)
            self._write_event(cur, tip, ("runs",), actor, "generate.end", run_id, {
                "status": status, "succeeded": run.succeeded, "failed": run.failed,
                **rewrites.details()})
        return run

    def runs(self, limit: int = 20) -> list[Run]:
        return generation.list_runs(self._cursor(), limit)

    def provenance(self, candidate_ids: Sequence[str]) -> dict[str, Provenance]:
        return generation.provenance(self._cursor(), candidate_ids)

    # --- the local judge (core/judge.py): stored apart, never an annotator's -------------------

    def judge_items(self, limit: int | None = None) -> list[Item]:
        return judge_sql.items(self._cursor(), limit)

    def judge_done_keys(self, model: str, prompt_version: str) -> set[tuple[str, str]]:
        return judge_sql.done_keys(self._cursor(), model, prompt_version)

    @grouped
    def start_judge_run(self, run: JudgeRun) -> None:
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            judge_sql.insert_run(cur, run, tip.seq)
            self._write_event(cur, tip, ("judge_runs",), run.actor, "judge.start",
                              run.judge_run_id, {"model": run.model, "hosts": list(run.hosts),
                                                 "prompt_version": run.prompt_version,
                                                 "planned": run.planned, "skipped": run.skipped})

    @grouped
    def record_judge_outcomes(self, outcomes: Sequence[JudgeOutcome],
                              actor: str | None = None) -> None:
        """Store judged items in one transaction: each verdict with its two requests.

        One `judge.batch` event (by `actor`, else the run's) vouches for the rows written; a
        batch that writes nothing (sent again after a dropped connection) appends none.
        """
        if not outcomes:
            return
        for outcome in outcomes:
            judge_sql.check_outcome(outcome)
        run_id = outcomes[0].verdict.judge_run_id
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            judge_sql.insert_outcomes(cur, outcomes, tip.seq)
            wrote = audit_rows.claims(cur, tip.seq, ("judge_verdicts", "judge_requests"))
            if any(claim["count"] for claim in wrote.values()):
                if actor is None:
                    row = cur.execute("SELECT actor FROM judge_runs WHERE judge_run_id = ?",
                                      [run_id]).fetchone()
                    actor = row[0] if row else audit_rows.SYSTEM_ACTOR
                self._append_event(cur, actor, "judge.batch", run_id,
                                   {"items": len(outcomes)}, tip, wrote)

    @grouped
    def finish_judge_run(self, judge_run_id: str, status: str, actor: str) -> JudgeRun:
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            rewrites = audit_rows.Rewrites(cur)
            rewrites.before("judge_runs", "judge_run_id = ?", [judge_run_id])
            judge_sql.finish_run(cur, judge_run_id, status, utc_now(), tip.seq)
            run = next((r for r in judge_sql.list_runs(cur, 2**31)
                        if r.judge_run_id == judge_run_id), None)
            if run is None:
                raise JudgmentError(f"no judge run {judge_run_id}")
            self._write_event(cur, tip, ("judge_runs",), actor, "judge.end", judge_run_id, {
                "status": status, "succeeded": run.succeeded, "failed": run.failed,
                **rewrites.details()})
        return run

    def judge_runs(self, limit: int = 20) -> list[JudgeRun]:
        return judge_sql.list_runs(self._cursor(), limit)

    def judge_verdicts(self, model: str | None = None) -> list[JudgeVerdict]:
        return judge_sql.current_verdicts(self._cursor(), model)
    def source_preferences(self, prompt_id: str) -> list[SourcePreference]:
        """What imported sources say about an item, strongest first (see core/prompt_view.py)."""
        return [SourcePreference(*row) for row in
                source_common.preferences_of(self._cursor(), prompt_id)]

    # --- analytics and calibration ---------------------------------------------------------

    def agreement_rows(self) -> dict[str, list[tuple]]:
        """Current judgments, pairwise labels, item labels, adjudications, flags and gold."""
        return analytics.agreement_rows(self._cursor())

    @grouped
    def set_gold(self, prompt_id: str, best_candidate_id: str, worst_candidate_id: str | None,
                 note: str | None, actor: str) -> None:
        """Mark a calibration item with its expected answer (mixed into queues unmarked)."""
        with self._transaction() as cur:
            tip = self._next_tip(cur)
            rewrites = audit_rows.Rewrites(cur)
            rewrites.before("gold_items", "prompt_id = ?", [prompt_id])
            analytics.set_gold(cur, prompt_id, best_candidate_id, worst_candidate_id, note, actor,
                               utc_now(), tip.seq)
            self._write_event(cur, tip, ("gold_items",), actor, "gold.set", prompt_id, {
                "best": best_candidate_id, "worst": worst_candidate_id, **rewrites.details()})

    def gold_items(self) -> list[tuple]:
        return analytics.gold_items(self._cursor())

    # --- pairs and balance -----------------------------------------------------------------

    def build_pairs(self, settings: PairSettings, actor: str,
                    universe: dict[str, list[str]]) -> PairBuild:
        """Rebuild the pairs from current decisions (see core/store/pairs.py), beside saves.

        The pairs are computed from one snapshot, in a transaction of a cursor of their own,
        and appended to `pairs` under a new build id without the write lock; only recording
        the build (its pair_builds row and audit event, which make its rows the latest) takes
        the lock, for milliseconds. The rows of earlier builds are deleted after that. One
        build at a time (the build lock); a second waits for the first.
        """
        with self._build_lock:
            began = time.monotonic()
            filled = self._fill_missing_languages_if_any(actor)
            now = utc_now()
            build_id = "b_" + now.strftime("%Y%m%dT%H%M%S") + "_" + secrets.token_hex(3)
            cur = self._con.cursor()  # its own connection: its temp tables and its snapshot
            try:
                cur.execute("BEGIN TRANSACTION")
                try:
                    result = pair_sql.compute(cur, settings, build_id, now, universe)
                    pair_sql.store_rows(cur, build_id)
                    cur.execute("COMMIT")
                except BaseException:
                    rollback(cur)
                    raise
                result = dataclasses.replace(result, languages_detected=filled)
                computed = time.monotonic()
                with self._transaction() as w:
                    locked = time.monotonic()
                    pair_sql.record(w, result, settings, actor)
                    self._append_event(w, actor, "pairs.build", build_id, {
                        "strategy": settings.strategy, "pairs_built": result.pairs_built,
                        "kept": result.kept, "dropped": result.dropped,
                        "balanced_out": result.balanced_out,
                        "held_back": result.held_back_disputed + result.held_back_flagged})
                recorded = time.monotonic()
                pair_sql.drop_other_builds(cur, build_id)
            finally:
                try:
                    pair_sql.drop_temp(cur)
                finally:
                    cur.close()
            self._build_timings = [*self._build_timings[-19:], {
                "whole": time.monotonic() - began, "compute_and_store": computed - began,
                "waiting_for_lock": locked - computed, "holding_lock": recorded - locked,
                "dropping_old_rows": time.monotonic() - recorded}]
        return result

    def _fill_missing_languages_if_any(self, actor: str) -> int:
        """Languages of rows stored without one (before migration 005, or generated without
        one): detected and written under the write lock, with their `languages.fill` event,
        before the build's snapshot."""
        row = self._cursor().execute("SELECT " + " OR ".join(
            f"EXISTS (SELECT 1 FROM {table} WHERE {missing})"
            for table, missing in MISSING.items())).fetchone()
        if not (row and row[0]):
            return 0
        with self._transaction() as cur:
            return self._fill_languages(cur, actor)

    @grouped
    def save_balance_plan(self, by: str, targets: dict[str, float] | None, seed: int,
                          actor: str) -> None:
        """Record the targets every later build downsamples to (None clears the plan)."""
        now = utc_now()
        with self._transaction() as cur:
            plan_id = "bp_" + now.strftime("%Y%m%dT%H%M%S") + "_" + secrets.token_hex(3)
            tip = self._next_tip(cur)
            pair_sql.insert_balance_plan(cur, plan_id, actor, now, by, targets, seed, tip.seq)
            self._write_event(cur, tip, ("balance_plans",), actor, "balance.apply"
                              if targets is not None else "balance.clear", plan_id,
                              {"by": by, "targets": targets, "seed": seed})

    def balance_plan(self) -> tuple[str, dict[str, float], int] | None:
        return pair_sql.latest_balance_plan(self._cursor())

    def kept_pair_texts(self, after: str, limit: int, sources: SourceFilter = SourceFilter()
                        ) -> list[tuple[str, str, str, str, str]]:
        if not 1 <= limit <= pair_sql.TEXT_PAGE_LIMIT:
            raise BadInputError(f"limit must be from 1 to {pair_sql.TEXT_PAGE_LIMIT:,}, "
                                f"got {limit}")
        return pair_sql.kept_pair_texts(self._cursor(), after, limit, sources)

    def pair_counts(self, by: str, before_balance: bool = False,
                    sources: SourceFilter = SourceFilter()) -> dict[str, int]:
        """Kept pairs of the latest build per dimension, language, (prompt) source or
        `decided_by`; limited by `sources` (see core/store/sources/common.py)."""
        if by == "decided_by":
            return source_common.decided_by_counts(self._cursor())
        if by == "turns":  # user turns of the prompt: 1 for a single-turn prompt
            return source_common.kept_counts_from(
                self._cursor(), "len(coalesce(p.turns, [])) // 2 + 1", before_balance,
                sources.include, sources.exclude)
        if not sources.active:
            return pair_sql.kept_counts(self._cursor(), by, before_balance)
        return source_common.kept_counts_from(self._cursor(), pair_sql._BALANCE_VALUE[by],
                                              before_balance, sources.include, sources.exclude)

    # --- export ----------------------------------------------------------------------------

    def export_pairs(self, request: ExportRequest, actor: str) -> ExportCounts:
        """Write the kept pairs' split files into the private spool; the caller copies them out.

        The row layout and its SQL are the store's own (core/export_formats.py), chosen by name:
        nothing in the request is executed and no path is taken from the caller. The files are
        of the latest (or request.build_id's) build, from one snapshot, without the write lock:
        saves and builds go on meanwhile.
        """
        spool_id = secrets.token_hex(16)
        folder = self._spool / spool_id
        folder.mkdir(mode=0o700, parents=True)
        os.chmod(self._spool, 0o700)
        self._spool_owners[spool_id] = actor
        cur = self._con.cursor()  # its own connection: its temp tables and its snapshot
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                return dataclasses.replace(exporting.write_pairs(cur, request, folder),
                                           spool_id=spool_id)
            finally:
                rollback(cur)  # it only read (and wrote temp tables, dropped with it)
        except exporting.BuildReplaced as exc:
            self.discard_export(spool_id, actor)
            raise StoreError(f"export failed: {exc}",
                             hint="another `prefer pairs` or export ran meanwhile; export again"
                             ) from exc
        except duckdb.Error as exc:
            self.discard_export(spool_id, actor)
            raise StoreError(f"export failed: {exc}") from exc
        except BaseException:
            self.discard_export(spool_id, actor)
            raise
        finally:
            cur.close()

    def _spooled(self, spool_id: str, actor: str) -> Path:
        if self._spool_owners.get(spool_id) != actor:
            raise JudgmentError("no such export (it was discarded, or is another caller's)")
        return self._spool / spool_id

    def read_export_file(self, spool_id: str, split: str, offset: int, actor: str) -> bytes:
        """Up to EXPORT_CHUNK_BYTES of a spooled split file from `offset` (b"" at the end)."""
        path = self._spooled(spool_id, actor) / split
        if split not in exporting.SPLITS or offset < 0 or not path.is_file():
            raise JudgmentError(f"no file for split '{split}' in this export")
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read(EXPORT_CHUNK_BYTES)

    def discard_export(self, spool_id: str, actor: str) -> None:
        folder = self._spooled(spool_id, actor)
        shutil.rmtree(folder, ignore_errors=True)
        del self._spool_owners[spool_id]

    def record_export(self, actor: str, out_dir: str, details: dict[str, Any]) -> Event:
        return self.append_event(actor, "export", out_dir, details)

    # --- quality report ----------------------------------------------------------------------

    def quality_facts(self, stale_before: datetime, guideline_version: str | None = None,
                      sources: SourceFilter = SourceFilter()) -> QualityFacts:
        """Facts about the kept pairs of the latest build, for `prefer report`."""
        cur = self._con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")  # every fact from one snapshot (one build)
            try:
                return quality.facts(cur, stale_before, guideline_version, sources)
            finally:
                rollback(cur)
        except duckdb.Error as exc:
            raise StoreError(f"quality report failed: {exc}") from exc
        finally:
            cur.close()

    # --- for tests and tools ---------------------------------------------------------------

    def execute_for_test(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """Run raw SQL (tests use it to tamper with rows behind the tool's back)."""
        self._flush_generations()
        self._committed_tip = None  # the SQL may change the chain's end
        return self._cursor().execute(sql, params or []).fetchall()


def _queue_order(queue_order: str) -> tuple[str, str]:
    """(JOIN clause, leading ORDER BY terms) of the next-item query for annotation.order:
    "import" adds nothing; "informative" puts what the judge is least certain of first
    (core/store/judge.py), then import order breaks ties."""
    if queue_order == "informative":
        join, order = judge_sql.informative_order("p")
        return join, f"{order}, "
    return "", ""
def _stored_text(record: GenerationRecord) -> GenerationRecord:
    """The record with its text as stored: stripped and NFC (a copy only when that changes
    it, made from the instance's own dict: dataclasses.replace, which runs __init__ again, cost
    60 us a record, more than the rest of folding it; model outputs often end in a newline)."""
    if not record.text:
        return record
    text = unicodedata.normalize("NFC", record.text.strip())
    if text == record.text:
        return record
    stored = object.__new__(GenerationRecord)
    stored.__dict__.update(record.__dict__, text=text)
    return stored


def _seeing_journaled_outcomes(read: Callable[..., Any]) -> Callable[..., Any]:
    """`read`, after folding the generation outcomes the journal holds (if any): a read
    sees every outcome record_generations has taken, as if it had been committed at once."""
    @functools.wraps(read)
    def call(self: LocalStore, *args: Any, **kwargs: Any) -> Any:
        journal = self._journal
        if journal is not None and journal.waiting():
            journal.flush()
        return read(self, *args, **kwargs)
    return call


# Every reading operation of the declaration (core/store/api.py), so a new one is covered too.
for _operation in OPERATIONS.values():
    if not _operation.writes:
        setattr(LocalStore, _operation.name,
                _seeing_journaled_outcomes(getattr(LocalStore, _operation.name)))


def _last_noted_seq(path: Path) -> int:
    """The seq of the head file's last line (0: no file, or no line)."""
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 65536))
            tail = handle.read().decode("ascii", errors="replace")
    except OSError:  # missing (or unreadable: opening it for appending then says why)
        return 0
    lines, _bad = parse_head_lines(tail)
    return lines[-1].seq if lines else 0


def _read_own_heads(path: Path | None) -> tuple[str, list[HeadLine], list[int]] | None:
    """The store's head file as verify_audit checks it: its name, lines and bad line numbers."""
    if path is None:
        return None
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        text = ""
    return (path.name, *parse_head_lines(text))


def _judgment(row: tuple) -> Judgment:
    (judgment_id, annotator, prompt_id, kind, best, worst, ranking, dimensions, justification,
     shown_order, guideline_version, seconds_spent, supersedes, created_at) = row
    return Judgment(
        judgment_id=judgment_id, annotator=annotator, prompt_id=prompt_id, kind=kind,
        shown_order=tuple(shown_order), best_candidate_id=best, worst_candidate_id=worst,
        ranking=tuple(ranking) if ranking is not None else None,
        dimensions=tuple(dimensions), justification=justification,
        guideline_version=guideline_version, seconds_spent=seconds_spent,
        supersedes=supersedes, created_at=created_at,
    )


_DECISION_FIELDS = ("kind", "best_candidate_id", "worst_candidate_id", "ranking", "dimensions",
                   "justification", "guideline_version")


def _same_decision(current: Judgment, sent: Judgment) -> bool:
    """Whether `sent` says what the current judgment says (order shown and time spent aside)."""
    return all(getattr(current, name) == getattr(sent, name) for name in _DECISION_FIELDS)


def _same_write(stored: Any, sent: Any, what: str, fields: tuple[str, ...]) -> Any:
    """The stored record when `sent` repeats it (a client retrying), else a refusal."""
    if any(getattr(stored, name) != getattr(sent, name) for name in fields):
        raise JudgmentError(f"this {what} id was already used for a different {what}",
                            hint="send the new one with a new id")
    return stored
