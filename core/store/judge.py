"""The local judge's SQL: its runs, request log and verdicts (migration 009_judge), kept apart.

Nothing here is read by pair building, human agreement or an annotator's queries; the one place
a verdict touches annotation is `informative_order`, which orders an annotator's queue without
revealing anything but the order.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from core.errors import JudgmentError
from core.judge_models import JudgeOutcome, JudgeRun, JudgeVerdict
from core.models import Candidate, Item, Prompt

_RUN_COLUMNS = ("judge_run_id, actor, model, hosts, concurrency, prompt_version, settings, planned, "
                "skipped, succeeded, failed, status, started_at, finished_at")
REQUEST_COLUMNS = ("request_id", "verdict_id", "judge_run_id", "prompt_id", "order_index",
                   "shown_order", "model", "model_digest", "host", "status", "error", "attempts",
                   "system", "options", "reply", "scores", "dimensions", "reason",
                   "prompt_eval_count", "eval_count", "total_duration_ns", "latency_s",
                   "started_at", "finished_at")
VERDICT_COLUMNS = ("verdict_id", "judge_run_id", "prompt_id", "model", "model_digest",
                   "prompt_version", "guideline_version", "candidates_key", "status", "error",
                   "candidate_ids", "scores", "best_candidate_id", "worst_candidate_id", "margin",
                   "orders_agree", "dimensions", "created_at")
_READY = "(SELECT prompt_id FROM candidates GROUP BY prompt_id HAVING count(*) >= 2)"


def insert_run(con: duckdb.DuckDBPyConnection, run: JudgeRun, event_seq: int) -> None:
    con.execute(f"INSERT INTO judge_runs ({_RUN_COLUMNS}, event_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run.judge_run_id, run.actor, run.model, list(run.hosts), run.concurrency,
                 run.prompt_version, run.settings, run.planned, run.skipped, run.succeeded,
                 run.failed, run.status, run.started_at, run.finished_at, event_seq])


def finish_run(con: duckdb.DuckDBPyConnection, judge_run_id: str, status: str,
               finished_at: object, event_seq: int) -> None:
    """Close a run; its row moves to the event that closed it (`event_seq`)."""
    con.execute(
        "UPDATE judge_runs SET status = ?, finished_at = ?, event_seq = ?, "
        "succeeded = (SELECT count(*) FROM judge_verdicts WHERE judge_run_id = ? "
        "             AND status = 'ok'), "
        "failed = (SELECT count(*) FROM judge_verdicts WHERE judge_run_id = ? "
        "          AND status = 'failed') "
        "WHERE judge_run_id = ?",
        [status, finished_at, event_seq, judge_run_id, judge_run_id, judge_run_id])


def list_runs(con: duckdb.DuckDBPyConnection, limit: int) -> list[JudgeRun]:
    # Counts come from the verdicts, so a run killed before it could finish still shows them.
    rows = con.execute(
        """
        SELECT r.judge_run_id, r.actor, r.model, r.hosts, r.concurrency, r.prompt_version,
               r.settings, r.planned, r.skipped,
               (SELECT count(*) FROM judge_verdicts v WHERE v.judge_run_id = r.judge_run_id
                AND v.status = 'ok'),
               (SELECT count(*) FROM judge_verdicts v WHERE v.judge_run_id = r.judge_run_id
                AND v.status = 'failed'),
               r.status, r.started_at, r.finished_at
        FROM judge_runs r ORDER BY r.started_at DESC LIMIT ?
        """, [limit]).fetchall()
    return [JudgeRun(r[0], r[1], r[2], tuple(r[3]), *r[4:9], int(r[9]), int(r[10]), *r[11:])
            for r in rows]


def items(con: duckdb.DuckDBPyConnection, limit: int | None) -> list[Item]:
    """Items ready to judge (two or more candidates), in import order, with their candidates."""
    prompts = con.execute(
        f"SELECT p.prompt_id, p.prompt, p.system, p.dimension, p.language, p.source "
        f"FROM prompts p JOIN {_READY} USING (prompt_id) "
        "ORDER BY p.imported_at, p.source, p.source_line, p.prompt_id LIMIT ?",
        [limit if limit is not None else 2**62]).fetchall()
    ids = [row[0] for row in prompts]
    by_prompt: dict[str, list[Candidate]] = {}
    for row in con.execute(
            "SELECT candidate_id, prompt_id, position, text, origin FROM candidates "
            "WHERE list_contains(?, prompt_id) ORDER BY prompt_id, position", [ids]).fetchall():
        by_prompt.setdefault(row[1], []).append(Candidate(*row))
    return [Item(Prompt(*row), tuple(by_prompt.get(row[0], ()))) for row in prompts]


def done_keys(con: duckdb.DuckDBPyConnection, model: str,
              prompt_version: str) -> set[tuple[str, str]]:
    """(prompt_id, candidates_key) already judged successfully with `model` and this prompt."""
    rows = con.execute(
        "SELECT DISTINCT prompt_id, candidates_key FROM judge_verdicts "
        "WHERE model = ? AND prompt_version = ? AND status = 'ok'",
        [model, prompt_version]).fetchall()
    return {(r[0], r[1]) for r in rows}


def insert_outcomes(con: duckdb.DuckDBPyConnection, outcomes: Sequence[JudgeOutcome],
                    event_seq: int) -> None:
    """Insert verdicts and their requests, written by `event_seq` (the caller holds the
    transaction). A verdict sent again (a client retrying) is ignored, with its requests.

    The ones already stored are found first and left out, and the rest go in by plain INSERT:
    INSERT OR IGNORE costs about four times as much per batch (measured: 26 ms against 7 for
    eight requests), and the writer runs beside the requests it records."""
    stored = {row[0] for row in con.execute(
        "SELECT verdict_id FROM judge_verdicts WHERE list_contains(?, verdict_id)",
        [[o.verdict.verdict_id for o in outcomes]]).fetchall()}
    fresh = [o for o in outcomes if o.verdict.verdict_id not in stored]
    verdicts = [o.verdict for o in fresh]
    requests = [r for o in fresh for r in o.requests]
    _insert(con, "judge_verdicts", VERDICT_COLUMNS, verdicts, event_seq)
    _insert(con, "judge_requests", REQUEST_COLUMNS, requests, event_seq)


def _insert(con: duckdb.DuckDBPyConnection, table: str, names: Sequence[str],
            records: Sequence[object], event_seq: int) -> None:
    if not records:
        return
    # Set-based: one statement per table for the whole batch (DuckDB's cost is per statement).
    values = []
    for name in names:
        column = [getattr(r, name) for r in records]
        values.append([list(v) if isinstance(v, tuple) else v for v in column])
    unnested = ", ".join(f"unnest(${i + 1}) AS {name}" for i, name in enumerate(names))
    con.execute(f"INSERT INTO {table} ({', '.join(names)}, event_seq) "
                f"SELECT {', '.join(names)}, ${len(names) + 1} FROM (SELECT {unnested})",
                [*values, event_seq])


def current_verdicts(con: duckdb.DuckDBPyConnection, model: str | None) -> list[JudgeVerdict]:
    """The latest successful verdict per item (of `model`, or of any model), by prompt id."""
    rows = con.execute(
        f"SELECT {', '.join(VERDICT_COLUMNS)} FROM judge_verdicts "
        "WHERE status = 'ok' AND (? IS NULL OR model = ?) "
        "QUALIFY row_number() OVER (PARTITION BY prompt_id "
        "                           ORDER BY created_at DESC, verdict_id DESC) = 1 "
        "ORDER BY prompt_id", [model, model]).fetchall()
    return [_verdict(row) for row in rows]


def _verdict(row: tuple) -> JudgeVerdict:
    values = dict(zip(VERDICT_COLUMNS, row, strict=True))
    values["candidate_ids"] = tuple(values["candidate_ids"])
    values["scores"] = tuple(values["scores"]) if values["scores"] is not None else None
    values["dimensions"] = tuple(values["dimensions"] or ())
    return JudgeVerdict(**values)


# --- triage: annotation.order = "informative" ------------------------------------------------

# How uncertain the judge is about an item, 0 (its two orders disagree, or a tie) to 1
# (obvious); items it has not judged sit in the middle. Joined on prompt_id as `judge_certainty`.
CERTAINTY_SQL = """
    (SELECT prompt_id,
            CASE WHEN orders_agree THEN coalesce(margin, 0.0) ELSE 0.0 END AS certainty
     FROM judge_verdicts WHERE status = 'ok'
     QUALIFY row_number() OVER (PARTITION BY prompt_id
                                ORDER BY created_at DESC, verdict_id DESC) = 1)
"""
UNJUDGED_CERTAINTY = 0.5


def informative_order(prompt_alias: str = "p") -> tuple[str, str]:
    """(JOIN clause, ORDER BY terms) that put the items the judge is least certain of first.

    For the next-item query: add the JOIN after its FROM and put the terms after its own first
    ordering key (skipped items last) and before import order, which breaks ties.
    """
    join = (f"LEFT JOIN {CERTAINTY_SQL} judge_certainty "
            f"ON judge_certainty.prompt_id = {prompt_alias}.prompt_id")
    return join, f"coalesce(judge_certainty.certainty, {UNJUDGED_CERTAINTY})"


# --- the write check (the store's own, whoever sends the batch) ------------------------------

def check_outcome(outcome: JudgeOutcome) -> None:
    """Refuse a judged item whose parts do not fit together (JudgmentError names the field)."""
    verdict = outcome.verdict
    where = f"verdict {verdict.verdict_id}"
    if verdict.status not in ("ok", "failed"):
        raise JudgmentError(f"{where}: status: expected ok or failed")
    candidates = set(verdict.candidate_ids)
    if len(candidates) != len(verdict.candidate_ids) or len(candidates) < 2:
        raise JudgmentError(f"{where}: candidate_ids: two or more distinct candidates")
    if verdict.status == "ok":
        if verdict.scores is None or len(verdict.scores) != len(verdict.candidate_ids) or any(
                not 1.0 <= score <= 10.0 for score in verdict.scores):
            raise JudgmentError(f"{where}: scores: one from 1 to 10 per candidate")
        if verdict.margin is None or not 0.0 <= verdict.margin <= 1.0:
            raise JudgmentError(f"{where}: margin: expected 0 to 1")
        for name in ("best_candidate_id", "worst_candidate_id"):
            chosen = getattr(verdict, name)
            if chosen is not None and chosen not in candidates:
                raise JudgmentError(f"{where}: {name}: not a candidate of the item")
        if len(outcome.requests) != 2 or any(r.status != "ok" for r in outcome.requests):
            raise JudgmentError(f"{where}: a verdict rests on two answered requests")
    for request in outcome.requests:
        if (request.verdict_id, request.prompt_id) != (verdict.verdict_id, verdict.prompt_id):
            raise JudgmentError(f"{where}: request {request.request_id} is of another item")
        if set(request.shown_order) != candidates or len(request.shown_order) != len(candidates):
            raise JudgmentError(f"{where}: request {request.request_id}: shown_order: "
                                "not the item's candidates")
        if request.status == "ok" and (request.scores is None or len(request.scores) != len(
                request.shown_order) or any(not 1 <= s <= 10 for s in request.scores)):
            raise JudgmentError(f"{where}: request {request.request_id}: scores: one from 1 "
                                "to 10 per shown candidate")
