"""Generation SQL: runs, the per-request run log, and candidates produced by a model."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Sequence

import duckdb

from core.errors import JudgmentError
from core.language import detect_languages
from core.models import GenerationRecord, Provenance, Run

MAX_RECORDS = 4096  # outcomes per record_generations call
MAX_TEXT_CHARS = 1_000_000  # one generated text (a long answer is a few thousand)
MAX_OPTIONS_CHARS = 4_096  # a request's options as JSON (prefer's own are under 100)

_RUN_COLUMNS = ("run_id, actor, model, hosts, variants, concurrency, settings, planned, skipped, "
                "succeeded, failed, status, started_at, finished_at")


def insert_run(con: duckdb.DuckDBPyConnection, run: Run, event_seq: int) -> None:
    con.execute(f"INSERT INTO runs ({_RUN_COLUMNS}, event_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run.run_id, run.actor, run.model, list(run.hosts), list(run.variants),
                 run.concurrency, run.settings, run.planned, run.skipped, run.succeeded,
                 run.failed, run.status, run.started_at, run.finished_at, event_seq])


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str, finished_at: object,
               event_seq: int) -> None:
    """Close a run; its row moves to the event that closed it (`event_seq`)."""
    con.execute(
        "UPDATE runs SET status = ?, finished_at = ?, event_seq = ?, "
        "succeeded = (SELECT count(*) FROM generations WHERE run_id = ? AND status = 'ok'), "
        "failed = (SELECT count(*) FROM generations WHERE run_id = ? AND status = 'failed') "
        "WHERE run_id = ?",
        [status, finished_at, event_seq, run_id, run_id, run_id],
    )


def list_runs(con: duckdb.DuckDBPyConnection, limit: int) -> list[Run]:
    # Counts come from the run log, so a run killed before it could finish still shows them.
    rows = con.execute(
        """
        SELECT r.run_id, r.actor, r.model, r.hosts, r.variants, r.concurrency, r.settings,
               r.planned, r.skipped,
               (SELECT count(*) FROM generations g WHERE g.run_id = r.run_id AND g.status = 'ok'),
               (SELECT count(*) FROM generations g WHERE g.run_id = r.run_id
                AND g.status = 'failed'),
               r.status, r.started_at, r.finished_at
        FROM runs r ORDER BY r.started_at DESC LIMIT ?
        """,
        [limit],
    ).fetchall()
    return [Run(r[0], r[1], r[2], tuple(r[3]), tuple(r[4]), *r[5:9], int(r[9]), int(r[10]),
                *r[11:]) for r in rows]


def done_keys(con: duckdb.DuckDBPyConnection, model: str) -> set[tuple[str, str]]:
    """(prompt_id, variant) pairs that already have a successful generation with `model`."""
    rows = con.execute(
        "SELECT DISTINCT prompt_id, variant FROM generations WHERE model = ? AND status = 'ok'",
        [model],
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


_RECORD_FIELDS = ("generation_id", "run_id", "prompt_id", "variant", "model", "model_digest",
                  "host", "backend", "status", "error", "attempts", "candidate_id", "system",
                  "options", "done_reason", "truncated", "prompt_eval_count", "eval_count",
                  "total_duration_ns", "load_duration_ns", "prompt_eval_duration_ns",
                  "eval_duration_ns", "latency_s", "started_at", "finished_at")


# What insert_records reads of each record (candidate_id is the store's, not the record's).
_READ_FIELDS = (*(n for n in _RECORD_FIELDS if n != "candidate_id"), "text")
_READ_RECORD = operator.attrgetter(*_READ_FIELDS)


class RecordChecks:
    """Checks a batch of outcomes the fold could refuse, before it reaches the journal: a
    journaled outcome must always fold (else every later open would fail on it).

    Runs on the event loop of `prefer generate` for every outcome (core/generate.py), so it
    remembers what it has seen valid across calls: the store's prompt ids (read whole on a miss:
    one query, where a statement a call would cost more than the rest of the call; prompts are
    never deleted) and the options texts (a run's requests share a few). `forget` gives the
    memory back between runs.
    """

    def __init__(self) -> None:
        self.prompts: set[str] = set()
        self.options: set[str] = set()

    def forget(self) -> None:
        self.prompts.clear()
        self.options.clear()

    def check(self, cursor: Callable[[], duckdb.DuckDBPyConnection],
              records: Sequence[GenerationRecord]) -> None:
        """Each record: an id, status ok (with a text) or failed, a prompt that exists, bounded
        texts, valid JSON options. JudgmentError names the first problem."""
        if len(records) > MAX_RECORDS:
            raise JudgmentError(f"records: at most {MAX_RECORDS} outcomes a call "
                                f"({len(records)} sent)")
        ids = set()
        for i, r in enumerate(records):
            if not r.generation_id or len(r.generation_id) > 64 or r.generation_id in ids:
                raise JudgmentError(f"records[{i}].generation_id: 1-64 characters, unique in "
                                    "the batch")
            ids.add(r.generation_id)
            if r.status not in ("ok", "failed"):
                raise JudgmentError(f"records[{i}].status: 'ok' or 'failed', not {r.status!r}")
            if r.status == "ok" and not (r.text or "").strip():
                raise JudgmentError(f"records[{i}].text: an ok outcome has a text")
            for name, value in (("text", r.text), ("system", r.system), ("error", r.error)):
                if value is not None and len(value) > MAX_TEXT_CHARS:
                    raise JudgmentError(f"records[{i}].{name}: at most {MAX_TEXT_CHARS} "
                                        "characters")
            for name, value in (("variant", r.variant), ("model", r.model), ("host", r.host),
                                ("backend", r.backend), ("model_digest", r.model_digest),
                                ("done_reason", r.done_reason)):
                if value is not None and len(value) > 512:
                    raise JudgmentError(f"records[{i}].{name}: at most 512 characters")
            if not isinstance(r.options, str) or len(r.options) > MAX_OPTIONS_CHARS:
                raise JudgmentError(f"records[{i}].options: a JSON object of at most "
                                    f"{MAX_OPTIONS_CHARS} characters")
            if r.options not in self.options:
                try:
                    if not isinstance(json.loads(r.options), dict):
                        raise ValueError
                except (ValueError, TypeError):
                    raise JudgmentError(f"records[{i}].options: a JSON object") from None
                # Bounded (at most 10,000 texts of MAX_OPTIONS_CHARS): a caller cannot make the
                # serving process hold more than ~40 MB of them.
                if len(self.options) < 10_000:
                    self.options.add(r.options)
            if r.attempts < 0:
                raise JudgmentError(f"records[{i}].attempts: at least 0")
        prompts = {r.prompt_id for r in records}
        if not prompts <= self.prompts:
            self.prompts.update(row[0] for row in cursor().execute(
                "SELECT prompt_id FROM prompts").fetchall())
            missing = prompts - self.prompts
            if missing:
                raise JudgmentError(f"records: prompt {sorted(missing)[0]!r} is not in the store")


def insert_records(con: duckdb.DuckDBPyConnection, records: Sequence[GenerationRecord],
                   candidate_ids: Sequence[str | None], source: str, event_seq: int) -> None:
    """Insert candidates (new texts only, with their language) and run-log rows, written by
    `event_seq`.

    The caller holds the transaction and has normalised the texts to NFC (candidate ids are
    derived from the stored text).

    Set-based (one statement per table for the whole batch): a run writes hundreds of
    outcomes a second, and DuckDB's cost is per statement, not per row.
    """
    if not records:
        return
    # Column lists by transposing each record's values once (not a getattr per field and row).
    transposed = zip(*map(_READ_RECORD, records), strict=True)
    columns = {name: list(values) for name, values in zip(_READ_FIELDS, transposed, strict=True)}
    columns["candidate_id"] = list(candidate_ids)
    # The language of each new text, detected for the whole batch at once (core.language).
    stored = [i for i, cid in enumerate(candidate_ids) if cid is not None and records[i].text]
    languages: list[str | None] = [None] * len(records)
    for i, language in zip(stored, detect_languages([records[i].text or "" for i in stored]),
                           strict=True):
        languages[i] = language
    columns["language"] = languages
    names = list(columns)
    # The batch is bound once, into a temporary table both inserts read: DuckDB binds a Python
    # list at ~1.4 us a value, which for 28 columns cost more than the inserts themselves, and
    # a common table expression in each statement bound every list twice.
    unnested = ", ".join(f"unnest(${i + 1}) AS {name}" for i, name in enumerate(names))
    con.execute(f"CREATE OR REPLACE TEMP TABLE generation_batch AS SELECT {unnested}",
                [columns[name] for name in names])
    con.execute(
        """
        INSERT INTO candidates (candidate_id, prompt_id, position, text, origin, source,
                                created_at, language, event_seq)
        SELECT b.candidate_id, b.prompt_id,
               (coalesce(e.max_position, 0)
                + row_number() OVER (PARTITION BY b.prompt_id ORDER BY b.finished_at,
                                     b.generation_id))::INTEGER,
               b.text, 'generated', $1, b.finished_at, b.language, $2
        FROM (SELECT * FROM generation_batch WHERE candidate_id IS NOT NULL AND text IS NOT NULL
              QUALIFY row_number() OVER (PARTITION BY candidate_id ORDER BY finished_at) = 1) b
        LEFT JOIN (SELECT prompt_id, max(position) AS max_position FROM candidates
                   WHERE prompt_id IN (SELECT prompt_id FROM generation_batch)
                   GROUP BY prompt_id) e USING (prompt_id)
        WHERE NOT EXISTS (SELECT 1 FROM candidates c WHERE c.candidate_id = b.candidate_id)
        """,
        [source, event_seq],
    )
    con.execute(f"INSERT OR IGNORE INTO generations ({', '.join(_RECORD_FIELDS)}, event_seq) "
                f"SELECT {', '.join(_RECORD_FIELDS)}, $1 FROM generation_batch", [event_seq])
    con.execute("DROP TABLE generation_batch")


def provenance(con: duckdb.DuckDBPyConnection, candidate_ids: Sequence[str]
               ) -> dict[str, Provenance]:
    rows = con.execute(
        "SELECT candidate_id, arg_max(variant, finished_at), arg_max(model, finished_at), "
        "arg_max(options, finished_at), bool_or(truncated) FROM generations "
        "WHERE status = 'ok' AND list_contains(?, candidate_id) GROUP BY candidate_id",
        [list(candidate_ids)],
    ).fetchall()
    out = {}
    for candidate_id, variant, model, options, truncated in rows:
        temperature = json.loads(options).get("temperature")
        out[candidate_id] = Provenance(candidate_id, variant, model, temperature, bool(truncated))
    return out
