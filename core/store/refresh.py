"""`prefer refresh` SQL: find stale decisions, re-queue their items, and read what changed.

A request re-queues an item for one annotator (the one who decided, or one of `--to`). It is
open until that annotator judges the item after `requested_at`: the work queue offers open
requests (LocalStore.next_prompt_id, `OPEN_REQUEST`). The annotator's new decision supersedes
the stale one: their own as any revision does, another's (`--to`) by the `refresh_superseded`
view of migration 014, so the item's current decision is the latest one made under the refresh.
Both stay in `judgments` and the audit trail.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import duckdb

# An open refresh request for annotator ? on p.prompt_id (the queue's condition).
OPEN_REQUEST = (
    "EXISTS (SELECT 1 FROM refresh_requests q WHERE q.prompt_id = p.prompt_id AND "
    "q.annotator = ? AND NOT EXISTS (SELECT 1 FROM judgments n WHERE n.prompt_id = q.prompt_id "
    "AND n.annotator = q.annotator AND n.created_at > q.requested_at))")

# People's current ranked decisions with the item's dimension (a source is never stale).
_DECISIONS = """
SELECT j.judgment_id, j.annotator, j.prompt_id, j.created_at, j.guideline_version,
       coalesce(j.dimensions[1], p.dimension, 'unspecified') AS dimension
FROM current_judgments j JOIN prompts p USING (prompt_id)
WHERE j.kind = 'ranked' AND NOT starts_with(j.annotator, 'source:')"""


def stale(con: duckdb.DuckDBPyConnection, older_than: datetime | None,
          guideline: str | None) -> list[tuple[str, str, str, str]]:
    """(judgment_id, annotator, prompt_id, dimension) of every stale decision."""
    conditions, params = [], []
    if older_than is not None:
        conditions.append("created_at < ?")
        params.append(older_than)
    if guideline is not None:
        # Before the version's first use (every decision, when it was never used).
        conditions.append("guideline_version IS DISTINCT FROM ? AND created_at < coalesce("
                          "(SELECT min(created_at) FROM judgments WHERE guideline_version = ?),"
                          " TIMESTAMP '9999-12-31')")
        params += [guideline, guideline]
    where = " AND ".join(conditions) or "false"
    return [tuple(r) for r in con.execute(  # type: ignore[misc]
        f"SELECT judgment_id, annotator, prompt_id, dimension FROM ({_DECISIONS}) "
        f"WHERE {where} ORDER BY prompt_id, annotator", params).fetchall()]


def request_id_for(prompt_id: str, annotator: str, stale_judgment_id: str) -> str:
    text = json.dumps([prompt_id, annotator, stale_judgment_id], separators=(",", ":"))
    return "rq_" + hashlib.sha256(text.encode()).hexdigest()[:24]


def existing(con: duckdb.DuckDBPyConnection, request_ids: list[str]) -> set[str]:
    return {r[0] for r in con.execute(
        "SELECT request_id FROM refresh_requests WHERE list_contains(?, request_id)",
        [request_ids]).fetchall()}


def insert(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, str]], reason: str,
           actor: str, now: datetime, event_seq: int) -> None:
    """Insert requests (request_id, prompt_id, annotator, stale_judgment_id)."""
    if rows:
        con.execute(
            "INSERT INTO refresh_requests SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
            "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), ?, ?, ?, ?",
            [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
             [r[3] for r in rows], reason, actor, now, event_seq])


def outcomes(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Answered requests: the stale decision against the asked annotator's latest decision after
    the request, theirs or (`--to`) another's (RefreshOutcome fields; "no meaningful difference"
    after a ranking is a flip)."""
    return con.execute(
        """
        WITH answered AS (
            SELECT q.prompt_id, q.annotator, q.stale_judgment_id,
                   arg_max(n.judgment_id, n.created_at) AS new_judgment_id
            FROM refresh_requests q JOIN judgments n
              ON n.prompt_id = q.prompt_id AND n.annotator = q.annotator
             AND n.created_at > q.requested_at AND n.kind IN ('ranked', 'no_difference')
            GROUP BY ALL)
        SELECT a.prompt_id, a.annotator,
               coalesce(o.dimensions[1], p.dimension, 'unspecified'),
               o.best_candidate_id, o.worst_candidate_id, n.best_candidate_id,
               n.worst_candidate_id, ro.groups, rn.groups
        FROM answered a
        JOIN judgments o ON o.judgment_id = a.stale_judgment_id
        JOIN judgments n ON n.judgment_id = a.new_judgment_id
        JOIN prompts p ON p.prompt_id = a.prompt_id
        LEFT JOIN judgment_rankings ro ON ro.judgment_id = o.judgment_id
        LEFT JOIN judgment_rankings rn ON rn.judgment_id = n.judgment_id
        ORDER BY a.prompt_id, a.annotator
        """).fetchall()
