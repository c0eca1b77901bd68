"""Bulk reads for analytics (agreement, reports): plain rows, one query each."""

from __future__ import annotations

import duckdb

_CURRENT = "current_judgments"  # the view of migration 006


def agreement_rows(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Everything agreement needs, as lists of plain tuples keyed by what they are."""
    return {
        # annotator, prompt_id, kind, shown_order, best, worst, groups, dimensions, seconds
        "judgments": con.execute(
            f"""
            SELECT c.annotator, c.prompt_id, c.kind, c.shown_order, c.best_candidate_id,
                   c.worst_candidate_id, r.groups, c.dimensions, c.seconds_spent
            FROM {_CURRENT} c LEFT JOIN judgment_rankings r USING (judgment_id)
            ORDER BY c.prompt_id, c.annotator
            """).fetchall(),
        # annotator, prompt_id, first, second, winner
        "pairwise": con.execute(
            "SELECT annotator, prompt_id, first_candidate_id, second_candidate_id, winner "
            "FROM pairwise_judgments ORDER BY prompt_id, annotator").fetchall(),
        # prompt_id, dimension, language
        "items": con.execute("SELECT prompt_id, dimension, language FROM prompts").fetchall(),
        # prompt_id, best, worst (the latest adjudication per item)
        "adjudications": con.execute(
            "SELECT prompt_id, arg_max(best_candidate_id, created_at), "
            "arg_max(worst_candidate_id, created_at) FROM adjudications GROUP BY prompt_id"
        ).fetchall(),
        # annotator, flags raised
        "flags": con.execute("SELECT annotator, count(*) FROM flags GROUP BY annotator").fetchall(),
        # prompt_id, best, worst
        "gold": con.execute("SELECT prompt_id, best_candidate_id, worst_candidate_id "
                            "FROM gold_items").fetchall(),
    }


def set_gold(con: duckdb.DuckDBPyConnection, prompt_id: str, best: str, worst: str | None,
             note: str | None, actor: str, now: object, event_seq: int) -> None:
    con.execute("INSERT OR REPLACE INTO gold_items VALUES (?, ?, ?, ?, ?, ?, ?)",
                [prompt_id, best, worst, note, actor, now, event_seq])


def gold_items(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT prompt_id, best_candidate_id, worst_candidate_id, note, marked_by, "
                       "marked_at FROM gold_items ORDER BY prompt_id").fetchall()
