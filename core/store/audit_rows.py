"""The audit trail's SQL: appending events, and the digests that tie each row to its event.

Every covered row names the event that wrote it (`event_seq`, migration 007). A write reserves
the next event number (`chain_tip`), inserts its rows with it, and appends its event with the
rows' count and digest per table in the details, under "wrote":

    row hash = sha256(the row's canonical text)
    digest   = sha256(the row hashes, sorted, concatenated)          sha256('') for no rows

The canonical text is the row as a JSON object of the columns in COVERED, in that order
(DuckDB's to_json of a struct_pack: cheap to plan, which matters on the hot path of saving a
judgment; a test pins the text of a sample row, so a DuckDB that renders values differently is
noticed before it breaks stored digests). COVERED must list a table's columns exactly (a test
checks it): a column a later migration adds must leave old rows' text as it was, so hash it
after the object and only when not NULL (`|| coalesce(',"col":' || to_json(col), '')`).

A write that changes or deletes rows earlier events wrote (releasing assignments, finishing a run,
marking a gold item again, replacing pairwise labels, filling in languages) moves the rows it
changes to its own event and restates what is left of each earlier one, under "restated":
{seq: {table: {"count", "sha256", "prior_ok"}}}. It checks those rows against their event
first: `prior_ok` false keeps on record that they had been changed behind prefer's back, and
"took_unowned" counts rows it changed that no event had written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from core.audit import ADOPT_ACTION, EMPTY_DIGEST, GENESIS_HASH, canonical_details, event_hash
from core.models import Event

SYSTEM_ACTOR = "prefer"  # the actor of events no person caused (adoption at migration 007)

# Each covered table's columns (all but event_seq), in the order they are hashed.
COVERED: dict[str, tuple[str, ...]] = {
    "prompts": ("prompt_id", "prompt", "system", "dimension", "language", "source", "source_line",
                "imported_at", "language_source"),
    "candidates": ("candidate_id", "prompt_id", "position", "text", "origin", "source",
                   "created_at", "language"),
    "judgments": ("judgment_id", "annotator", "prompt_id", "kind", "best_candidate_id",
                  "worst_candidate_id", "ranking", "dimensions", "justification", "shown_order",
                  "guideline_version", "seconds_spent", "supersedes", "created_at"),
    "judgment_rankings": ("judgment_id", "groups"),
    "pairwise_judgments": ("pairwise_id", "annotator", "prompt_id", "first_candidate_id",
                           "second_candidate_id", "winner", "dimensions", "justification",
                           "source", "created_at"),
    "adjudications": ("adjudication_id", "prompt_id", "reviewer", "best_candidate_id",
                      "worst_candidate_id", "groups", "note", "guideline_change", "supersedes",
                      "created_at"),
    "flags": ("flag_id", "annotator", "prompt_id", "note", "created_at"),
    "flag_resolutions": ("flag_id", "resolved_by", "resolution", "resolved_at"),
    "assignments": ("prompt_id", "annotator", "batch_id", "assigned_by", "assigned_at",
                    "released_at"),
    "gold_items": ("prompt_id", "best_candidate_id", "worst_candidate_id", "note", "marked_by",
                   "marked_at"),
    "runs": ("run_id", "actor", "model", "hosts", "variants", "concurrency", "settings", "planned",
             "skipped", "succeeded", "failed", "status", "started_at", "finished_at"),
    "generations": ("generation_id", "run_id", "prompt_id", "variant", "model", "model_digest",
                    "host", "status", "error", "attempts", "candidate_id", "system", "options",
                    "done_reason", "truncated", "prompt_eval_count", "eval_count",
                    "total_duration_ns", "load_duration_ns", "prompt_eval_duration_ns",
                    "eval_duration_ns", "latency_s", "started_at", "finished_at"),
    "balance_plans": ("plan_id", "applied_by", "applied_at", "balance_by", "targets", "seed"),
    "judge_runs": ("judge_run_id", "actor", "model", "hosts", "concurrency", "prompt_version",
                   "settings", "planned", "skipped", "succeeded", "failed", "status",
                   "started_at", "finished_at"),
    "judge_requests": ("request_id", "verdict_id", "judge_run_id", "prompt_id", "order_index",
                       "shown_order", "model", "model_digest", "host", "status", "error",
                       "attempts", "system", "options", "reply", "scores", "dimensions",
                       "reason", "prompt_eval_count", "eval_count", "total_duration_ns",
                       "latency_s", "started_at", "finished_at"),
    "judge_verdicts": ("verdict_id", "judge_run_id", "prompt_id", "model", "model_digest",
                       "prompt_version", "guideline_version", "candidates_key", "status",
                       "error", "candidate_ids", "scores", "best_candidate_id",
                       "worst_candidate_id", "margin", "orders_agree", "dimensions",
                       "created_at"),
    "source_preferences": ("preference_id", "kind", "prompt_id", "chosen_id", "rejected_id",
                           "source", "source_line", "p_value", "score_gap", "reviewer", "signal",
                           "trusted", "created_at"),
    "refresh_requests": ("request_id", "prompt_id", "annotator", "stale_judgment_id", "reason",
                         "requested_by", "requested_at"),
}
# Columns a migration after 007 added to a covered table (after event_seq): hashed after the
# row's object and only when not NULL, so the rows stored before keep their text and digest.
ADDED_LATER: dict[str, tuple[str, ...]] = {
    "prompts": ("turns",),  # migration 010: a conversation's earlier turns
    "generations": ("backend",),  # migration 012: the API of the host (core/backends)
}
# How a report names a row of each table.
ROW_KEY: dict[str, str] = {
    "prompts": "prompt_id", "candidates": "candidate_id", "judgments": "judgment_id",
    "judgment_rankings": "judgment_id", "pairwise_judgments": "pairwise_id",
    "adjudications": "adjudication_id", "flags": "flag_id", "flag_resolutions": "flag_id",
    "assignments": "prompt_id || ' to ' || annotator", "gold_items": "prompt_id",
    "runs": "run_id", "generations": "generation_id", "balance_plans": "plan_id",
    "judge_runs": "judge_run_id", "judge_requests": "request_id", "judge_verdicts": "verdict_id",
    "source_preferences": "preference_id", "refresh_requests": "request_id",
}




def row_text_sql(table: str, added_later: bool = True) -> str:
    """SQL for the canonical text of a row of `table` (its columns referenced by bare name)."""
    text = f"to_json(struct_pack({', '.join(COVERED[table])}))"
    for column in ADDED_LATER.get(table, ()) if added_later else ():
        text += f" || coalesce(',\"{column}\":' || to_json({column}), '')"
    return text


def row_hash_sql(table: str, added_later: bool = True) -> str:
    """SQL for the sha256 (hex) of a row of `table`."""
    return f"sha256({row_text_sql(table, added_later)})"


def row_hash(con: duckdb.DuckDBPyConnection, table: str, key: str) -> str:
    """The hash of one row, found by its key (an index lookup: the cheapest claim of one row)."""
    row = con.execute(f"SELECT {row_hash_sql(table)} FROM {table} WHERE {ROW_KEY[table]} = ?",
                      [key]).fetchone()
    assert row is not None, (table, key)
    return str(row[0])


def claim_of(hashes: Iterable[str]) -> dict[str, Any]:
    """The claim for rows with these row hashes: {"count": n, "sha256": digest}."""
    ordered = sorted(hashes)
    return {"count": len(ordered),
            "sha256": hashlib.sha256("".join(ordered).encode("ascii")).hexdigest()}


_DIGEST = "sha256(coalesce(string_agg(h, '' ORDER BY h), ''))"


def claims(con: duckdb.DuckDBPyConnection, seq: int, tables: Sequence[str],
           added_later: bool = True) -> dict[str, Any]:
    """The count and digest of the rows event `seq` wrote in each of `tables` (one query)."""
    parts = [f"SELECT '{table}', count(*), {_DIGEST} FROM "
             f"(SELECT {row_hash_sql(table, added_later)} AS h FROM {table} "
             "WHERE event_seq = $1)"
             for table in tables if table in COVERED]
    rows = con.execute(" UNION ALL ".join(parts), [seq]).fetchall()
    return {table: {"count": int(count), "sha256": digest} for table, count, digest in rows}


def digests_by_event(con: duckdb.DuckDBPyConnection, table: str
                     ) -> list[tuple[int | None, int, str]]:
    """(event_seq, rows, digest) for every event that rows of `table` name (None: no event)."""
    return [(seq, int(count), digest) for seq, count, digest in con.execute(
        f"SELECT event_seq, count(*), {_DIGEST} FROM "
        f"(SELECT event_seq, {row_hash_sql(table)} AS h FROM {table}) GROUP BY event_seq"
    ).fetchall()]


def row_keys(con: duckdb.DuckDBPyConnection, table: str, seqs: Sequence[int | None],
             limit: int) -> list[str]:
    """Up to `limit` names of rows of `table` naming one of `seqs` (None: no event), sorted."""
    known = [s for s in seqs if s is not None]
    where = "list_contains(?, event_seq)" + (" OR event_seq IS NULL" if None in seqs else "")
    return [str(r[0]) for r in con.execute(
        f"SELECT {ROW_KEY[table]} AS k FROM {table} WHERE {where} ORDER BY k LIMIT ?",
        [known, limit]).fetchall()]


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tip:
    """The number the next event gets and the hash it links to."""

    seq: int
    prev_hash: str


def chain_tip(con: duckdb.DuckDBPyConnection) -> Tip:
    last = con.execute("SELECT seq, row_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return Tip(last[0] + 1, last[1]) if last else Tip(1, GENESIS_HASH)


def head(con: duckdb.DuckDBPyConnection) -> tuple[int, str, datetime] | None:
    """The newest event's seq, hash and time, or None for an empty chain."""
    row = con.execute("SELECT seq, row_hash, occurred_at FROM events ORDER BY seq DESC LIMIT 1"
                      ).fetchone()
    return (int(row[0]), row[1], row[2]) if row else None


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def append_event(con: duckdb.DuckDBPyConnection, actor: str, action: str, subject: str | None,
                 details: dict[str, Any], tip: Tip | None = None) -> Event:
    """Append one event row, chained to the newest; `tip` when the caller already reserved it.

    The caller holds the transaction, and appends nothing else between reserving `tip` and this.
    """
    tip = tip or chain_tip(con)
    at = utc_now()
    text = canonical_details(details)
    row_hash = event_hash(tip.seq, at, actor, action, subject, text, tip.prev_hash)
    con.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [tip.seq, at, actor, action, subject, text, tip.prev_hash, row_hash])
    return Event(tip.seq, at, actor, action, subject, text, tip.prev_hash, row_hash)


def adopt(con: duckdb.DuckDBPyConnection) -> Event | None:
    """Give rows stored before migration 007 to one `audit.adopt` event (None: no such rows).

    Runs in migration 007's transaction, so it happens once: a row without an event later on was
    written behind prefer's back, and `verify` reports it.
    """
    # Tables later migrations add are covered too, but do not exist yet at migration 007.
    existing = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    counts = con.execute(" UNION ALL ".join(
        f"SELECT '{t}', count(*) FROM {t} WHERE event_seq IS NULL" for t in COVERED
        if t in existing)).fetchall()
    tables = [t for t, n in counts if n]
    if not tables:
        return None
    tip = chain_tip(con)
    for table in tables:
        con.execute(f"UPDATE {table} SET event_seq = ? WHERE event_seq IS NULL", [tip.seq])
    return append_event(con, SYSTEM_ACTOR, ADOPT_ACTION, None, {
        "wrote": claims(con, tip.seq, tables, added_later=False),
        "why": "rows stored before migration 007: vouched for from this event on"}, tip)


# --- rewrites of earlier events' rows --------------------------------------------------------


def _latest_claims(con: duckdb.DuckDBPyConnection, table: str, seqs: set[int]
                   ) -> dict[int, tuple[int, str]]:
    """What the chain last said about each event's rows in `table`: its own claim, or the
    latest restatement by a later event."""
    found = {seq: (0, EMPTY_DIGEST) for seq in seqs}
    rows = con.execute(
        "SELECT seq, details FROM events WHERE list_contains(?, seq) "
        "OR (seq > ? AND contains(details, '\"restated\"')) ORDER BY seq",
        [sorted(seqs), min(seqs)]).fetchall()
    for seq, text in rows:
        details = json.loads(text)
        if seq in seqs:
            wrote = details.get("wrote", {}).get(table)
            if wrote is not None:
                found[seq] = (wrote["count"], wrote["sha256"])
        for restated_seq, tables in details.get("restated", {}).items():
            restated = tables.get(table)
            if restated is not None and int(restated_seq) in seqs:
                found[int(restated_seq)] = (restated["count"], restated["sha256"])
    return found


def _current_claims(con: duckdb.DuckDBPyConnection, table: str, seqs: set[int]
                    ) -> dict[int, tuple[int, str]]:
    found = {seq: (0, EMPTY_DIGEST) for seq in seqs}
    for seq, count, digest in con.execute(
            f"SELECT event_seq, count(*), {_DIGEST} FROM (SELECT event_seq, {row_hash_sql(table)} "
            f"AS h FROM {table} WHERE list_contains(?, event_seq)) GROUP BY event_seq",
            [sorted(seqs)]).fetchall():
        found[seq] = (int(count), digest)
    return found


class Rewrites:
    """Rows a write is about to change or delete, by the events that wrote them.

    Call `before(table, where, params)` with the condition of the coming UPDATE or DELETE (the
    UPDATE sets event_seq to the writing event), then `details()` for the event's details.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._owners: dict[str, dict[int, bool]] = {}
        self._unowned: dict[str, int] = {}

    def before(self, table: str, where_sql: str, params: Sequence[Any]) -> None:
        rows = self._con.execute(
            f"SELECT r.event_seq, r.n, e.seq IS NOT NULL FROM (SELECT event_seq, count(*) AS n "
            f"FROM {table} WHERE {where_sql} GROUP BY event_seq) r "
            "LEFT JOIN events e ON e.seq = r.event_seq", list(params)).fetchall()
        owners = {int(seq) for seq, _count, known in rows if known}
        unowned = sum(int(count) for _seq, count, known in rows if not known)
        if unowned:
            self._unowned[table] = self._unowned.get(table, 0) + unowned
        if owners:
            prior = _latest_claims(self._con, table, owners)
            now = _current_claims(self._con, table, owners)
            checked = self._owners.setdefault(table, {})
            for seq in owners:
                checked[seq] = checked.get(seq, True) and prior[seq] == now[seq]

    def details(self) -> dict[str, Any]:
        """"restated" (and "took_unowned") for the writing event's details, after the write."""
        restated: dict[str, dict[str, Any]] = {}
        for table, checked in self._owners.items():
            for seq, (count, digest) in _current_claims(self._con, table, set(checked)).items():
                restated.setdefault(str(seq), {})[table] = {
                    "count": count, "sha256": digest, "prior_ok": checked[seq]}
        found: dict[str, Any] = {"restated": restated} if restated else {}
        if self._unowned:
            found["took_unowned"] = dict(self._unowned)
        return found
