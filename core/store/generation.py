"""Generation SQL: runs, the per-request run log, and candidates produced by a model."""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb

from core.models import GenerationRecord, Provenance, Run

_RUN_COLUMNS = ("run_id, actor, model, hosts, variants, concurrency, settings, planned, skipped, "
                "succeeded, failed, status, started_at, finished_at")


def insert_run(con: duckdb.DuckDBPyConnection, run: Run) -> None:
    con.execute(f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run.run_id, run.actor, run.model, list(run.hosts), list(run.variants),
                 run.concurrency, run.settings, run.planned, run.skipped, run.succeeded,
                 run.failed, run.status, run.started_at, run.finished_at])


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str, finished_at: object
               ) -> None:
    con.execute(
        "UPDATE runs SET status = ?, finished_at = ?, "
        "succeeded = (SELECT count(*) FROM generations WHERE run_id = ? AND status = 'ok'), "
        "failed = (SELECT count(*) FROM generations WHERE run_id = ? AND status = 'failed') "
        "WHERE run_id = ?",
        [status, finished_at, run_id, run_id, run_id],
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


def insert_records(con: duckdb.DuckDBPyConnection, records: Sequence[GenerationRecord],
                   candidate_ids: Sequence[str | None], source: str) -> None:
    """Insert candidates (new texts only) and run-log rows; the caller holds the transaction."""
    for record, candidate_id in zip(records, candidate_ids, strict=True):
        if candidate_id is not None and record.text is not None:
            con.execute(
                "INSERT INTO candidates SELECT ?, ?, "
                "(SELECT coalesce(max(position), 0) + 1 FROM candidates WHERE prompt_id = ?), "
                "?, 'generated', ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM candidates WHERE candidate_id = ?)",
                [candidate_id, record.prompt_id, record.prompt_id, record.text, source,
                 record.finished_at, candidate_id],
            )
        con.execute(
            "INSERT OR IGNORE INTO generations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?)",
            [record.generation_id, record.run_id, record.prompt_id, record.variant,
             record.model, record.model_digest, record.host, record.status, record.error,
             record.attempts, candidate_id, record.system, record.options, record.done_reason,
             record.truncated, record.prompt_eval_count, record.eval_count,
             record.total_duration_ns, record.load_duration_ns, record.prompt_eval_duration_ns,
             record.eval_duration_ns, record.latency_s, record.started_at, record.finished_at],
        )


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
