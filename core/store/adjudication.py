"""Adjudication SQL: the judgments of an item side by side, reviewers' decisions, annotators' flags,
and the part of pair building that decides, per item, which decision the pairs come from.

The disagreement rule is written in words and Python in core/adjudication.py; `EXPORT_DECISIONS`
applies the same rule in SQL so an export of a million judgments never leaves DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

from core.models import Adjudication, Flag, ItemJudgment

# Candidates a reviewer sees, and pairs from an adjudication use: all of the item's. Imports
# refuse items above annotation.max_candidates, and the screens label beyond 9 by two digits,
# so a reviewer may pick candidate 12 as annotators can.
_CURRENT_RANKED = "current_judgments j WHERE j.kind = 'ranked'"
_CURRENT_RANKED_WITH_GROUPS = ("current_judgments j LEFT JOIN judgment_rankings r USING (judgment_id) "
                               "WHERE j.kind = 'ranked'")
# A ranking as groups: from judgment_rankings, else the judgment's own ranking (no ties).
_GROUPS = ("(CASE WHEN len(coalesce(r.groups, list_transform(j.ranking, lambda x: [x]))) > 0 "
           "THEN coalesce(r.groups, list_transform(j.ranking, lambda x: [x])) END)")

_ITEM_JUDGMENTS = f"""
SELECT * FROM (
    SELECT j.judgment_id, j.annotator, j.prompt_id, 'judgment' AS source, j.shown_order,
           j.best_candidate_id, j.worst_candidate_id, {_GROUPS} AS groups, NULL AS winner,
           j.dimensions, j.justification, j.created_at
    FROM {_CURRENT_RANKED_WITH_GROUPS}
    UNION ALL
    SELECT pairwise_id, annotator, prompt_id, 'pairwise', [first_candidate_id, second_candidate_id],
           NULL, NULL, NULL, winner, dimensions, justification, created_at
    FROM pairwise_judgments
) WHERE list_contains(?, prompt_id)
ORDER BY prompt_id, created_at, judgment_id
"""

# Items a reviewer may need: two or more annotators, or an open flag; in import order.
_CONTESTED = f"""
WITH judged AS (
    SELECT prompt_id, annotator FROM {_CURRENT_RANKED}
    UNION SELECT prompt_id, annotator FROM pairwise_judgments
),
contested AS (
    SELECT prompt_id FROM judged GROUP BY prompt_id HAVING count(DISTINCT annotator) > 1
    UNION SELECT prompt_id FROM flags f
          WHERE NOT EXISTS (SELECT 1 FROM flag_resolutions r WHERE r.flag_id = f.flag_id)
)
SELECT p.prompt_id, p.prompt,
       (SELECT count(*) FROM flags f WHERE f.prompt_id = p.prompt_id AND NOT EXISTS
            (SELECT 1 FROM flag_resolutions r WHERE r.flag_id = f.flag_id)) AS open_flags,
       EXISTS (SELECT 1 FROM adjudications a WHERE a.prompt_id = p.prompt_id) AS adjudicated
FROM prompts p SEMI JOIN contested USING (prompt_id)
ORDER BY p.imported_at, p.source, p.source_line, p.prompt_id
"""

_FLAGS = """
SELECT f.flag_id, f.annotator, f.prompt_id, f.note, f.created_at, r.resolved_by, r.resolution,
       r.resolved_at
FROM flags f LEFT JOIN flag_resolutions r USING (flag_id)
"""


def item_judgments(cur: duckdb.DuckDBPyConnection, prompt_ids: Sequence[str]) -> list[ItemJudgment]:
    """Current ranked judgments and pairwise labels of these items, oldest first per item."""
    rows = cur.execute(_ITEM_JUDGMENTS, [list(prompt_ids)]).fetchall()
    return [ItemJudgment(
        judgment_id=r[0], annotator=r[1], prompt_id=r[2], source=r[3], shown=tuple(r[4]),
        best_candidate_id=r[5], worst_candidate_id=r[6],
        groups=tuple(tuple(g) for g in r[7]) if r[7] is not None else None, winner=r[8],
        dimensions=tuple(r[9] or ()), justification=r[10], created_at=r[11]) for r in rows]


def contested_items(cur: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int, bool]]:
    """(prompt id, prompt, open flags, adjudicated) of items with 2+ annotators or open flags."""
    return [(r[0], r[1], int(r[2]), bool(r[3])) for r in cur.execute(_CONTESTED).fetchall()]


def flags(cur: duckdb.DuckDBPyConnection, prompt_id: str | None, open_only: bool) -> list[Flag]:
    where = ["r.flag_id IS NULL"] if open_only else []
    params: list[str] = []
    if prompt_id is not None:
        where.append("f.prompt_id = ?")
        params.append(prompt_id)
    sql = _FLAGS + (f" WHERE {' AND '.join(where)}" if where else "") + \
        " ORDER BY f.created_at, f.flag_id"
    return [Flag(*row) for row in cur.execute(sql, params).fetchall()]


def flags_of(cur: duckdb.DuckDBPyConnection, annotator: str) -> list[Flag]:
    """One annotator's flags, open and resolved, oldest first."""
    sql = _FLAGS + " WHERE f.annotator = ? ORDER BY f.created_at, f.flag_id"
    return [Flag(*row) for row in cur.execute(sql, [annotator]).fetchall()]


def flag_by_id(cur: duckdb.DuckDBPyConnection, flag_id: str) -> Flag | None:
    row = cur.execute(_FLAGS + " WHERE f.flag_id = ?", [flag_id]).fetchone()
    return Flag(*row) if row else None


def insert_flag(cur: duckdb.DuckDBPyConnection, flag: Flag, created_at: datetime,
                event_seq: int) -> None:
    cur.execute("INSERT INTO flags VALUES (?, ?, ?, ?, ?, ?)",
                [flag.flag_id, flag.annotator, flag.prompt_id, flag.note, created_at, event_seq])


def insert_resolution(cur: duckdb.DuckDBPyConnection, flag_id: str, resolved_by: str,
                      resolution: str, resolved_at: datetime, event_seq: int) -> None:
    cur.execute("INSERT INTO flag_resolutions VALUES (?, ?, ?, ?, ?)",
                [flag_id, resolved_by, resolution, resolved_at, event_seq])


_ADJUDICATION_COLUMNS = ("adjudication_id, prompt_id, reviewer, note, best_candidate_id, "
                         "worst_candidate_id, groups, guideline_change, supersedes, created_at")


def _adjudication(row: tuple) -> Adjudication:
    values = list(row)
    values[6] = tuple(tuple(g) for g in values[6]) if values[6] is not None else None
    return Adjudication(*values)


def adjudication_by_id(cur: duckdb.DuckDBPyConnection, adjudication_id: str) -> Adjudication | None:
    row = cur.execute(f"SELECT {_ADJUDICATION_COLUMNS} FROM adjudications WHERE adjudication_id = ?",
                      [adjudication_id]).fetchone()
    return _adjudication(row) if row else None


def latest_adjudication(cur: duckdb.DuckDBPyConnection, prompt_id: str) -> Adjudication | None:
    row = cur.execute(
        f"SELECT {_ADJUDICATION_COLUMNS} FROM adjudications WHERE prompt_id = ? "
        "ORDER BY created_at DESC, adjudication_id DESC LIMIT 1", [prompt_id]).fetchone()
    return _adjudication(row) if row else None


def insert_adjudication(cur: duckdb.DuckDBPyConnection, adjudication: Adjudication,
                        event_seq: int) -> None:
    groups = [list(g) for g in adjudication.groups] if adjudication.groups is not None else None
    cur.execute(f"INSERT INTO adjudications ({_ADJUDICATION_COLUMNS}, event_seq) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [adjudication.adjudication_id, adjudication.prompt_id, adjudication.reviewer,
                 adjudication.note, adjudication.best_candidate_id,
                 adjudication.worst_candidate_id, groups, adjudication.guideline_change,
                 adjudication.supersedes, adjudication.created_at, event_seq])


def candidate_ids(cur: duckdb.DuckDBPyConnection, prompt_id: str,
                  limit: int | None = None) -> list[str]:
    """The item's candidates a reviewer sees (the first `limit`, or all), in stored order."""
    return [r[0] for r in cur.execute(
        "SELECT candidate_id FROM candidates WHERE prompt_id = ? ORDER BY position LIMIT ?",
        [prompt_id, limit if limit is not None else 2**62]).fetchall()]


# --- pair building ---------------------------------------------------------------------------
# Runs inside core/store/pairs.py's build after export_decisions (the current ranked judgments
# per item) and leaves export_final: per item, the best, worst, shown candidates, ranking groups,
# dimensions, where the decision came from, when and under which guidelines it was made. An
# item's decision is its latest adjudication, else its judgments when no two annotators
# disagree (core/adjudication.py); an item with an open flag gives no pairs.

def implied_preferences(best_worst: str, members: str, pairwise: str) -> str:
    """SQL rows (annotator, prompt_id, high, low): every preference a judgment implies.

    `best_worst` has (annotator, prompt_id, best, worst, other) per shown candidate of a
    best/worst judgment, `members` (judgment_id, annotator, prompt_id, gi, candidate_id) per
    candidate of a ranking in group gi, `pairwise` rows of pairwise_judgments.
    """
    return f"""
    SELECT annotator, prompt_id, best AS high, other AS low FROM {best_worst}
    WHERE best IS NOT NULL AND other <> best
    UNION ALL
    SELECT annotator, prompt_id, other, worst FROM {best_worst}
    WHERE worst IS NOT NULL AND other <> worst AND other IS DISTINCT FROM best
    UNION ALL
    SELECT a.annotator, a.prompt_id, a.candidate_id, b.candidate_id
    FROM {members} a JOIN {members} b ON a.judgment_id = b.judgment_id AND a.gi < b.gi
    UNION ALL
    SELECT annotator, prompt_id,
           CASE winner WHEN 'first' THEN first_candidate_id ELSE second_candidate_id END,
           CASE winner WHEN 'first' THEN second_candidate_id ELSE first_candidate_id END
    FROM {pairwise} WHERE winner <> 'tie'"""


_ENDS = ("coalesce(best_raw, CASE WHEN len(groups) > 1 AND len(groups[1]) = 1 THEN groups[1][1] END)",
         "coalesce(worst_raw, CASE WHEN len(groups) > 1 AND len(groups[-1]) = 1 THEN groups[-1][1] END)")

EXPORT_DECISIONS = f"""
CREATE TEMP TABLE export_ends AS
SELECT j.judgment_id, j.annotator, j.prompt_id, j.best_candidate_id AS best_raw,
       j.worst_candidate_id AS worst_raw, {_GROUPS} AS groups
FROM {_CURRENT_RANKED_WITH_GROUPS};

CREATE TEMP TABLE export_disputed AS
WITH e AS (SELECT annotator, prompt_id, {_ENDS[0]} AS best, {_ENDS[1]} AS worst FROM export_ends),
-- Opposite implied pairs need a ranking, a missing end or a pairwise label: between two
-- best/worst judgments they come only with a different best or worst, found above.
maybe AS (SELECT prompt_id FROM export_ends
          WHERE groups IS NOT NULL OR best_raw IS NULL OR worst_raw IS NULL
          UNION SELECT prompt_id FROM pairwise_judgments),
bw AS (SELECT e.annotator, e.prompt_id, e.best_raw AS best, e.worst_raw AS worst,
              unnest(j.shown_order) AS other
       FROM export_ends e JOIN judgments j USING (judgment_id)
       WHERE e.groups IS NULL AND e.prompt_id IN (SELECT prompt_id FROM maybe)),
members AS (SELECT judgment_id, annotator, prompt_id, gi, unnest(grp) AS candidate_id
            FROM (SELECT judgment_id, annotator, prompt_id, unnest(groups) AS grp,
                         generate_subscripts(groups, 1) AS gi
                  FROM export_ends WHERE groups IS NOT NULL)),
implied AS ({implied_preferences("bw", "members", "pairwise_judgments")})
SELECT DISTINCT a.prompt_id FROM e a JOIN e b
    ON a.prompt_id = b.prompt_id AND a.annotator < b.annotator
WHERE a.best <> b.best OR a.worst <> b.worst
UNION
SELECT DISTINCT x.prompt_id FROM implied x JOIN implied y
    ON x.prompt_id = y.prompt_id AND x.high = y.low AND x.low = y.high
   AND x.annotator <> y.annotator;

CREATE TEMP TABLE export_open_flags AS
SELECT DISTINCT prompt_id FROM flags f
WHERE NOT EXISTS (SELECT 1 FROM flag_resolutions r WHERE r.flag_id = f.flag_id);

CREATE TEMP TABLE export_adjudicated AS
SELECT prompt_id, coalesce(best_candidate_id, CASE WHEN len(groups) > 1 AND len(groups[1]) = 1
                                                   THEN groups[1][1] END) AS best_candidate_id,
       coalesce(worst_candidate_id, CASE WHEN len(groups) > 1 AND len(groups[-1]) = 1
                                         THEN groups[-1][1] END) AS worst_candidate_id,
       groups, created_at
FROM adjudications
QUALIFY row_number() OVER (PARTITION BY prompt_id
                           ORDER BY created_at DESC, adjudication_id DESC) = 1;

CREATE TEMP TABLE export_final AS
SELECT * FROM (
    SELECT a.prompt_id, a.best_candidate_id, a.worst_candidate_id,
           (SELECT list(c.candidate_id ORDER BY c.position) FROM candidates c
            WHERE c.prompt_id = a.prompt_id) AS shown_order,
           coalesce(d.dimensions, []::VARCHAR[]) AS dimensions, a.groups,
           'adjudicated' AS decision, a.created_at AS judged_at, d.guideline_version
    FROM export_adjudicated a LEFT JOIN export_decisions d USING (prompt_id)
    WHERE a.best_candidate_id IS NOT NULL AND a.worst_candidate_id IS NOT NULL
    UNION ALL
    SELECT prompt_id, best_candidate_id, worst_candidate_id, shown_order, dimensions, groups,
           'unanimous', judged_at, guideline_version
    FROM export_decisions
    WHERE prompt_id NOT IN (SELECT prompt_id FROM export_adjudicated)
      AND prompt_id NOT IN (SELECT prompt_id FROM export_disputed)
) WHERE prompt_id NOT IN (SELECT prompt_id FROM export_open_flags);

DROP TABLE export_ends;
"""

# Items with a decision to build from that give no pairs: (all of them, those with open flags).
EXPORT_HELD_BACK = """
SELECT count(*), count(*) FILTER (WHERE prompt_id IN (SELECT prompt_id FROM export_open_flags))
FROM (SELECT prompt_id FROM export_decisions UNION SELECT prompt_id FROM export_adjudicated)
WHERE prompt_id NOT IN (SELECT prompt_id FROM export_final)
"""
