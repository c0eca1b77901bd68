"""Pair building SQL: decisions per item, pairs per strategy, the filters, balance, the pairs table.

A build stores every pair the strategy gives, with `status` 'kept' or the first filter that
dropped it (core.models.PAIR_FILTERS, in that order), then 'balanced_out' for pairs a balance
plan removes. The rules in words are in core/pairs.py; the Python parts (similarity,
near-duplicate prompts) in core/similarity.py.

In three steps, so that a build never holds up a save (LocalStore.build_pairs): `compute` works
in temp tables from whatever snapshot the caller's transaction reads (no write to a shared
table), `store_rows` appends the new build's rows to `pairs` (invisible to readers, who read
`latest_pairs`: the rows of the newest pair_builds row), and `record` writes that row, which
makes them the latest; `drop_other_builds` then deletes the rows of earlier builds.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from datetime import datetime

import duckdb

from core.balance import quotas, resolve_targets
from core.models import PAIR_FILTERS, Contradiction, PairBuild, PairSettings, SourceFilter
from core.store import pair_worker
from core.store.adjudication import (
    _GROUPS,
    EXPORT_DECISIONS,
    EXPORT_HELD_BACK,
    implied_preferences,
)
from core.store.sources.common import source_filter_sql

# Empty or only whitespace (tabs, newlines and Unicode spaces included).
_WHITESPACE_ONLY = r"'[\s\x0B\p{Zs}]*'"
# Control characters other than tab, newline and carriage return, and U+FFFD (what a decoder
# leaves for invalid bytes or lone surrogates): text that would corrupt a training file.
BAD_CHARACTERS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x{FFFD}]"
# An imported response is complete when it ends like a sentence (closing punctuation, quote,
# bracket, emphasis or code fence) or its last line is a list item, a table row or a heading.
COMPLETE_ENDING = r"[.!?…。！？؟।:;\"'”’»)\]}*_~`>]\s*$"
# Or with an emoji or other symbol (category So/Sk, an emoji presentation selector allowed).
SYMBOL_ENDING = r"[\p{So}\p{Sk}]\x{FE0F}?\s*$"
STRUCTURED_LAST_LINE = r"(^|\n)[ \t]*([-*+•]|\d+[.)]|\||#{1,6}[ \t]|```)[^\n]*\s*$"


def ends_mid_sentence(text: str) -> bool:
    """The Python twin of the SQL rule for imported candidates (tests keep the two in step)."""
    if re.fullmatch(r"[\s\x0B]*", text):
        return False
    last = text.rstrip().removesuffix("\ufe0f")[-1:]
    return not (re.search(COMPLETE_ENDING, text) or re.search(STRUCTURED_LAST_LINE, text)
                or unicodedata.category(last) in ("So", "Sk"))


def _sql_regex(pattern: str) -> str:
    return "'" + pattern.replace("'", "''") + "'"


_DECISIONS = f"""
CREATE TEMP TABLE export_current AS
SELECT judgment_id, annotator, prompt_id, created_at, guideline_version, shown_order, dimensions,
       groups,
       coalesce(best_raw, CASE WHEN len(groups) > 1 AND len(groups[1]) = 1 THEN groups[1][1] END)
           AS best_candidate_id,
       coalesce(worst_raw, CASE WHEN len(groups) > 1 AND len(groups[-1]) = 1
                                THEN groups[-1][1] END) AS worst_candidate_id
FROM (SELECT j.judgment_id, j.annotator, j.prompt_id, j.created_at, j.guideline_version,
             j.shown_order, j.dimensions, {_GROUPS} AS groups, j.best_candidate_id AS best_raw,
             j.worst_candidate_id AS worst_raw
      FROM current_judgments j LEFT JOIN judgment_rankings r USING (judgment_id)
      WHERE j.kind = 'ranked');

-- What the item's annotators say together (they agree, or the item is held back), the same
-- whatever the ids or the order of the judgments: the best and the worst any of them names (when
-- they agree there is at most one of each), the candidates any of them was shown, the dimension
-- tagged most often (ties: the first in name order), and the ranking of the earliest judgment
-- (by time, then annotator; only the disagreement check reads it).
CREATE TEMP TABLE export_decisions AS
WITH tags AS (SELECT prompt_id, dimensions[1] AS tag, count(*) AS n FROM export_current
              WHERE len(dimensions) > 0 GROUP BY ALL),
top_tag AS (SELECT prompt_id, arg_min(tag, (-n, tag)) AS tag FROM tags GROUP BY prompt_id),
shown AS (SELECT prompt_id, list(DISTINCT candidate_id ORDER BY candidate_id) AS shown_order
          FROM (SELECT prompt_id, unnest(shown_order) AS candidate_id FROM export_current)
          GROUP BY prompt_id)
SELECT d.prompt_id, d.best_candidate_id, d.worst_candidate_id, s.shown_order,
       CASE WHEN t.tag IS NULL THEN []::VARCHAR[] ELSE [t.tag] END AS dimensions,
       d.first.groups AS groups, d.first.gv AS guideline_version, d.judged_at
FROM (SELECT prompt_id, min(best_candidate_id) AS best_candidate_id,
             min(worst_candidate_id) AS worst_candidate_id,
             arg_min({{'groups': groups, 'gv': guideline_version}}, (created_at, annotator))
                 AS first,
             max(created_at) AS judged_at
      FROM export_current GROUP BY prompt_id) d
JOIN shown s USING (prompt_id)
LEFT JOIN top_tag t USING (prompt_id);
{EXPORT_DECISIONS}
"""

# With one end missing (a ranking tied at the top or at the bottom), the other end's pairs
# still count: [[1, 2], 3] gives 1 > 3 and 2 > 3 as [1, [2, 3]] gives 1 > 2 and 1 > 3.
_BEST_VS_REST = """
SELECT prompt_id, best_candidate_id AS chosen_id, candidate_id AS rejected_id FROM shown
WHERE candidate_id <> best_candidate_id
UNION ALL
SELECT prompt_id, candidate_id, worst_candidate_id FROM shown
WHERE candidate_id <> worst_candidate_id AND candidate_id IS DISTINCT FROM best_candidate_id
"""
_STRATEGY_SQL = {
    "best-vs-rest": _BEST_VS_REST,
    "best-vs-worst": """
SELECT prompt_id, best_candidate_id, worst_candidate_id FROM export_final
WHERE best_candidate_id <> worst_candidate_id
""",
    # A reviewer's decision: every ordered pair of its ranking (ties give none), else its
    # best-vs-rest pairs. The annotators' (they agree, else the item is held back): every
    # preference any of them implies (pb_implied: rankings, best and worst, pairwise labels),
    # so no one judgment's form decides for the others.
    "all-ordered": """
SELECT a.prompt_id, a.candidate_id, b.candidate_id FROM members a
JOIN members b ON a.prompt_id = b.prompt_id AND a.gi < b.gi
WHERE a.prompt_id IN (SELECT prompt_id FROM export_final WHERE decision = 'adjudicated')
UNION ALL
SELECT * FROM (""" + _BEST_VS_REST + """) WHERE prompt_id IN
    (SELECT prompt_id FROM export_final
     WHERE decision = 'adjudicated' AND (groups IS NULL OR len(groups) < 2))
UNION ALL
SELECT prompt_id, high, low FROM pb_implied
WHERE prompt_id IN (SELECT prompt_id FROM export_final WHERE decision <> 'adjudicated')
""",
}


def _ordered_sql(strategy: str) -> str:
    return f"""
CREATE TEMP TABLE pb_ordered AS
WITH shown AS (SELECT prompt_id, best_candidate_id, worst_candidate_id,
                      unnest(shown_order) AS candidate_id FROM export_final),
members AS (SELECT prompt_id, gi, unnest(grp) AS candidate_id
            FROM (SELECT prompt_id, unnest(groups) AS grp, generate_subscripts(groups, 1) AS gi
                  FROM export_final WHERE len(groups) >= 2))
SELECT DISTINCT * FROM ({_STRATEGY_SQL[strategy]}) o(prompt_id, chosen_id, rejected_id)
WHERE chosen_id IS NOT NULL AND rejected_id IS NOT NULL AND chosen_id <> rejected_id;
"""


# Per item: which annotators imply which preference (best/worst, rankings, pairwise labels), so
# a pair's agreement is the share of the item's annotators who imply it. Every annotator with a
# current ranked judgment or a pairwise label on the item counts (the same people the `jsonl`
# export lists under `annotators`).
_IMPLIED = f"""
CREATE TEMP TABLE pb_implied AS
WITH items AS (SELECT prompt_id FROM export_final),
cur AS (SELECT * FROM export_current SEMI JOIN items USING (prompt_id)),
bw AS (SELECT annotator, prompt_id, best_candidate_id AS best, worst_candidate_id AS worst,
              unnest(shown_order) AS other FROM cur WHERE groups IS NULL),
members AS (SELECT judgment_id, annotator, prompt_id, gi, unnest(grp) AS candidate_id
            FROM (SELECT judgment_id, annotator, prompt_id, unnest(groups) AS grp,
                         generate_subscripts(groups, 1) AS gi FROM cur WHERE groups IS NOT NULL)),
pw AS (SELECT * FROM pairwise_judgments SEMI JOIN items USING (prompt_id))
SELECT DISTINCT * FROM ({implied_preferences("bw", "members", "pw")});

CREATE TEMP TABLE pb_raters AS
SELECT prompt_id, count(DISTINCT annotator) AS raters
FROM (SELECT prompt_id, annotator FROM export_current UNION ALL
      SELECT prompt_id, annotator FROM pairwise_judgments)
WHERE prompt_id IN (SELECT prompt_id FROM export_final) GROUP BY prompt_id;
"""

_AGREEMENT = """
CREATE TEMP TABLE pb_agreement AS
WITH support AS (SELECT prompt_id, high, low, count(DISTINCT annotator) AS support
                 FROM pb_implied GROUP BY ALL)
SELECT o.prompt_id, o.chosen_id, o.rejected_id,
       CASE WHEN coalesce(r.raters, 0) = 0 THEN 1.0
            ELSE coalesce(s.support, 0) / r.raters END AS agreement
FROM pb_ordered o
LEFT JOIN pb_raters r USING (prompt_id)
LEFT JOIN support s ON s.prompt_id = o.prompt_id AND s.high = o.chosen_id
                   AND s.low = o.rejected_id;
"""


def _features_sql() -> str:
    bad = _sql_regex(BAD_CHARACTERS)
    complete = _sql_regex(COMPLETE_ENDING)
    structured = _sql_regex(STRUCTURED_LAST_LINE)
    symbol = _sql_regex(SYMBOL_ENDING)
    return f"""
CREATE TEMP TABLE pb_candidates AS
SELECT c.candidate_id, c.position, c.language,
       lower(split_part(c.language, '-', 1)) AS base_language,
       regexp_full_match(c.text, {_WHITESPACE_ONLY}) AS blank,
       regexp_matches(c.text, {bad}) AS bad_chars,
       CASE WHEN g.truncated IS NOT NULL THEN g.truncated
            WHEN c.origin = 'generated' THEN false
            ELSE NOT regexp_full_match(c.text, {_WHITESPACE_ONLY})
                 AND NOT regexp_matches(c.text, {complete})
                 AND NOT regexp_matches(c.text, {structured})
                 AND NOT regexp_matches(c.text, {symbol}) END AS truncated,
       hash(c.text) AS text_hash,
       -- The length after collapsing whitespace runs and trimming (what normalise() keeps),
       -- computed without building the lowered copy: only the similarity bound uses it.
       length(regexp_replace(c.text, '\\s\\s+', ' ', 'g'))
           - regexp_matches(c.text, '^\\s')::INT - regexp_matches(c.text, '\\s$')::INT AS norm_len
FROM candidates c
LEFT JOIN (SELECT candidate_id, bool_or(truncated) AS truncated FROM generations
           WHERE status = 'ok' GROUP BY candidate_id) g USING (candidate_id)
WHERE c.candidate_id IN (SELECT chosen_id FROM pb_ordered UNION SELECT rejected_id FROM pb_ordered);

CREATE TEMP TABLE pb_prompts AS
SELECT p.prompt_id, coalesce(nullif(p.language, ''), 'und') AS language,
       lower(split_part(coalesce(nullif(p.language, ''), 'und'), '-', 1)) AS base_language,
       p.source,
       p.dimension, hash(p.prompt) AS prompt_hash, hash(coalesce(p.system, '')) AS system_hash,
       regexp_full_match(p.prompt, {_WHITESPACE_ONLY}) AS blank,
       regexp_matches(p.prompt, {bad}) OR coalesce(regexp_matches(p.system, {bad}), false)
           AS bad_chars
FROM prompts p WHERE p.prompt_id IN (SELECT prompt_id FROM pb_ordered);

CREATE TEMP TABLE pb_raw AS
SELECT row_number() OVER (ORDER BY o.prompt_id, c.position, r.position) AS n,
       o.prompt_id, o.chosen_id, o.rejected_id, c.position AS chosen_pos,
       r.position AS rejected_pos,
       coalesce(f.dimensions[1], p.dimension, 'unspecified') AS dimension,
       p.language, f.decision, a.agreement, f.judged_at, f.guideline_version,
       p.prompt_hash, p.system_hash, c.text_hash AS chosen_hash, r.text_hash AS rejected_hash,
       c.norm_len AS chosen_len, r.norm_len AS rejected_len,
       CASE WHEN p.blank OR c.blank OR r.blank THEN 'empty'
            WHEN p.bad_chars OR c.bad_chars OR r.bad_chars THEN 'encoding'
            WHEN c.truncated OR r.truncated THEN 'truncated' END AS early_status,
       -- Compared on the base language: a prompt marked pt-BR and a response detected as pt
       -- agree.
       p.base_language <> 'und' AND (
           (coalesce(c.base_language, 'und') NOT IN ('und', p.base_language))
           OR (coalesce(r.base_language, 'und') NOT IN ('und', p.base_language)))
           AS language_mismatch
FROM pb_ordered o
JOIN export_final f USING (prompt_id)
JOIN pb_agreement a USING (prompt_id, chosen_id, rejected_id)
JOIN pb_prompts p USING (prompt_id)
JOIN pb_candidates c ON c.candidate_id = o.chosen_id
JOIN pb_candidates r ON r.candidate_id = o.rejected_id;
"""


# Pairs that survive the cheap filters and whose lengths allow the near-identical threshold.
_SIMILARITY_CANDIDATES = """
SELECT x.n, x.chosen_id, c.text AS chosen, x.rejected_id, r.text AS rejected, x.language
FROM pb_raw x
JOIN candidates c ON c.candidate_id = x.chosen_id
JOIN candidates r ON r.candidate_id = x.rejected_id
WHERE x.early_status IS NULL
  AND 2.0 * least(x.chosen_len, x.rejected_len) >= ? * (x.chosen_len + x.rejected_len)
ORDER BY x.n
"""

# Statuses in filter order; duplicates keep the first by position, comparing texts only where
# the four hashes collide; contradictions compare texts of the (few) hash matches too.
# A trivial pair (only whitespace, punctuation, case or markup differ) and a near-identical one
# whose changes carry no meaning are dropped as near_identical; a minimal one is kept
# (core/difference.py).
_STATUS = """
CREATE TEMP TABLE pb_status AS
SELECT x.*, s.similarity, g.prompt_group, nullif(s.difference::VARCHAR, '') AS difference,
       nullif(s.reason::VARCHAR, '') AS difference_reason,
       coalesce(x.early_status,
                CASE WHEN s.difference::VARCHAR IN ('trivial', 'near_identical')
                     THEN 'near_identical'
                     WHEN x.language_mismatch THEN 'language_mismatch' END) AS status
FROM pb_raw x
LEFT JOIN pb_similarity s USING (n)
JOIN pb_groups g USING (prompt_id)
"""
_DUPLICATES_AND_CONTRADICTIONS = """
CREATE TEMP TABLE pb_duplicates AS
WITH live AS (SELECT * FROM pb_status WHERE status IS NULL),
shared AS (SELECT prompt_hash, system_hash, chosen_hash, rejected_hash FROM live
           GROUP BY ALL HAVING count(*) > 1)
SELECT n FROM (
    SELECT l.n, row_number() OVER (PARTITION BY p.prompt, coalesce(p.system, ''), c.text, r.text
                                   ORDER BY l.chosen_pos, l.rejected_pos, l.prompt_id) AS k
    FROM live l SEMI JOIN shared USING (prompt_hash, system_hash, chosen_hash, rejected_hash)
    JOIN prompts p ON p.prompt_id = l.prompt_id
    JOIN candidates c ON c.candidate_id = l.chosen_id
    JOIN candidates r ON r.candidate_id = l.rejected_id
) WHERE k > 1;
UPDATE pb_status SET status = 'duplicate' WHERE n IN (SELECT n FROM pb_duplicates);

CREATE TEMP TABLE pb_contradictions AS
WITH live AS (SELECT * FROM pb_status WHERE status IS NULL)
SELECT a.n, a.prompt_id, b.prompt_id AS other_prompt_id, a.chosen_id, a.rejected_id
FROM live a JOIN live b
  ON a.prompt_group = b.prompt_group AND a.chosen_hash = b.rejected_hash
 AND a.rejected_hash = b.chosen_hash
JOIN candidates ac ON ac.candidate_id = a.chosen_id
JOIN candidates ar ON ar.candidate_id = a.rejected_id
JOIN candidates bc ON bc.candidate_id = b.chosen_id
JOIN candidates br ON br.candidate_id = b.rejected_id
WHERE ac.text = br.text AND ar.text = bc.text;
UPDATE pb_status SET status = 'contradiction' WHERE n IN (SELECT n FROM pb_contradictions);
UPDATE pb_status SET status = 'kept' WHERE status IS NULL;
"""

_BALANCE_VALUE = {"dimension": "x.dimension", "language": "x.language",
                  "source": "coalesce(p.source, 'unknown')"}

_INSERT = """
INSERT INTO pairs
SELECT 'pr_' || left(sha256(prompt_id || chr(31) || chosen_id || chr(31) || rejected_id), 20),
       ?, prompt_id, chosen_id, rejected_id, chosen_pos, rejected_pos, dimension, language,
       decision, agreement, similarity, prompt_group, judged_at, guideline_version, status
FROM pb_status ORDER BY n;
"""

_TEMP_TABLES = ("export_current", "export_decisions", "export_disputed", "export_open_flags",
                "export_adjudicated", "export_final", "pb_implied", "pb_raters", "pb_ordered",
                "pb_agreement",
                "pb_candidates", "pb_prompts", "pb_raw", "pb_similarity", "pb_groups",
                "pb_status", "pb_duplicates", "pb_contradictions", "pb_balance")


def latest_balance_plan(con: duckdb.DuckDBPyConnection) -> tuple[str, dict[str, float], int] | None:
    """(by, explicit targets, seed) of the plan in force, or None (never applied, or cleared)."""
    row = con.execute("SELECT balance_by, targets, seed FROM balance_plans "
                      "ORDER BY applied_at DESC, plan_id DESC LIMIT 1").fetchone()
    if row is None or row[1] is None:
        return None
    return row[0], json.loads(row[1]), int(row[2])


def insert_balance_plan(con: duckdb.DuckDBPyConnection, plan_id: str, actor: str, at: datetime,
                        by: str, targets: Mapping[str, float] | None, seed: int,
                        event_seq: int) -> None:
    con.execute("INSERT INTO balance_plans VALUES (?, ?, ?, ?, ?, ?, ?)",
                [plan_id, actor, at, by, None if targets is None else json.dumps(dict(targets)),
                 seed, event_seq])


def compute(con: duckdb.DuckDBPyConnection, settings: PairSettings, build_id: str,
            now: datetime, universe: Mapping[str, list[str]]) -> PairBuild:
    """Every pair and its status, in temp tables of `con` (pb_status, ...); the counts.

    Reads only: run it in a transaction, so every step sees the same snapshot. `universe` lists
    the values balance targets spread over (by). The temp tables stay until drop_temp.
    """
    drop_temp(con)
    con.execute(_DECISIONS)
    con.execute(_IMPLIED)
    con.execute(_ordered_sql(settings.strategy))
    con.execute(_AGREEMENT)
    con.execute(_features_sql())
    _near_identical(con, settings)
    _prompt_groups(con, settings.near_duplicate_prompt_threshold)
    con.execute(_STATUS)
    con.execute(_DUPLICATES_AND_CONTRADICTIONS)
    plan = latest_balance_plan(con)
    balanced_out = 0
    if plan is not None:
        balanced_out = apply_balance(con, plan[0], plan[1], plan[2], universe.get(plan[0], []))

    items_row = con.execute("SELECT count(*) FROM export_final").fetchone()
    held = con.execute(EXPORT_HELD_BACK).fetchone() or (0, 0)
    by_status = dict(con.execute("SELECT status, count(*) FROM pb_status GROUP BY 1").fetchall())
    minimal_by_reason = dict(con.execute(
        "SELECT difference_reason, count(*) FROM pb_status WHERE status = 'kept' "
        "AND difference = 'minimal' GROUP BY 1 ORDER BY 1").fetchall())
    trivial_row = con.execute("SELECT count(*) FROM pb_status WHERE status = 'near_identical' "
                              "AND difference = 'trivial'").fetchone()
    kept_by_dimension = dict(con.execute(
        "SELECT dimension, count(*) FROM pb_status WHERE status = 'kept' GROUP BY 1 ORDER BY 1"
    ).fetchall())
    # One line per opposite couple, with the start of each text so a person recognises them.
    sample = con.execute(
        "SELECT x.prompt_id, x.other_prompt_id, x.chosen_id, x.rejected_id, left(c.text, 60), "
        "left(r.text, 60) FROM pb_contradictions x "
        "JOIN candidates c ON c.candidate_id = x.chosen_id "
        "JOIN candidates r ON r.candidate_id = x.rejected_id "
        "WHERE x.prompt_id < x.other_prompt_id ORDER BY x.n LIMIT 10").fetchall()
    return PairBuild(
        build_id=build_id, strategy=settings.strategy, built_at=now,
        items=int(items_row[0]) if items_row else 0,
        pairs_built=sum(int(v) for v in by_status.values()),
        kept=int(by_status.get("kept", 0)),
        dropped={name: int(by_status.get(name, 0)) for name in PAIR_FILTERS},
        balanced_out=balanced_out,
        balance_plan=plan[1] if plan else None, balance_by=plan[0] if plan else None,
        held_back_disputed=int(held[0]) - int(held[1]), held_back_flagged=int(held[1]),
        contradictions=tuple(Contradiction(*row) for row in sample),
        kept_by_dimension={str(k): int(v) for k, v in kept_by_dimension.items()},
        minimal=sum(int(v) for v in minimal_by_reason.values()),
        minimal_by_reason={str(k): int(v) for k, v in minimal_by_reason.items()},
        trivial=int(trivial_row[0]) if trivial_row else 0,
    )


def store_rows(con: duckdb.DuckDBPyConnection, build_id: str) -> None:
    """Append the computed pairs (pb_status) to `pairs` under `build_id`: not the latest build
    until `record` is committed, so readers go on reading the previous one meanwhile."""
    con.execute(_INSERT, [build_id])


def record(con: duckdb.DuckDBPyConnection, result: PairBuild, settings: PairSettings,
           actor: str) -> None:
    """The pair_builds row that makes `result`'s stored rows the latest build."""
    counts = {k: v for k, v in result.__dict__.items()
              if k not in ("build_id", "built_at", "contradictions", "strategy")}
    con.execute("INSERT INTO pair_builds VALUES (?, ?, ?, ?, ?, ?)",
                [result.build_id, actor, result.built_at, settings.strategy,
                 json.dumps({"near_identical_threshold": settings.near_identical_threshold,
                             "near_duplicate_prompt_threshold":
                                 settings.near_duplicate_prompt_threshold,
                             "seed": settings.seed, "minimal": difference_rules(settings)}),
                 json.dumps(counts)])


def drop_other_builds(con: duckdb.DuckDBPyConnection, build_id: str) -> None:
    """Delete the rows of every build but `build_id` (earlier ones, and any a crash left)."""
    con.execute("DELETE FROM pairs WHERE build_id <> ?", [build_id])


def apply_balance(con: duckdb.DuckDBPyConnection, by: str, explicit: Mapping[str, float],
                  seed: int, universe: list[str]) -> int:
    """Mark kept pairs over their value's quota 'balanced_out', lowest agreement first (ties
    broken by a seeded hash of the pair, so the same store and seed drop the same pairs)."""
    value = _BALANCE_VALUE[by]
    counts = dict(con.execute(
        f"SELECT {value}, count(*) FROM pb_status x JOIN prompts p USING (prompt_id) "
        "WHERE x.status = 'kept' GROUP BY 1").fetchall())
    values = list(dict.fromkeys([*universe, *sorted(counts), *explicit]))
    keep = quotas({v: int(counts.get(v, 0)) for v in values}, resolve_targets(values, explicit))
    con.execute("DROP TABLE IF EXISTS pb_balance")
    con.execute("CREATE TEMP TABLE pb_balance (value VARCHAR, quota BIGINT)")
    con.executemany("INSERT INTO pb_balance VALUES (?, ?)", list(keep.items()))
    before = con.execute("SELECT count(*) FROM pb_status WHERE status = 'kept'").fetchone()
    con.execute(
        f"""
        UPDATE pb_status SET status = 'balanced_out' WHERE n IN (
            SELECT n FROM (
                SELECT x.n, {value} AS value,
                       row_number() OVER (PARTITION BY {value}
                                          ORDER BY x.agreement DESC,
                                                   hash(? || ':' || x.prompt_id || ':' ||
                                                        x.chosen_id || ':' || x.rejected_id),
                                                   x.n) AS k
                FROM pb_status x JOIN prompts p USING (prompt_id) WHERE x.status = 'kept'
            ) r JOIN pb_balance b USING (value) WHERE r.k > b.quota)
        """,
        [str(seed)],
    )
    after = con.execute("SELECT count(*) FROM pb_status WHERE status = 'kept'").fetchone()
    return int(before[0]) - int(after[0]) if before and after else 0


def difference_rules(settings: PairSettings) -> dict[str, float | int]:
    """The settings core/difference.py classifies pairs by (a JSON-able dict for the worker)."""
    return {"near_identical_threshold": settings.near_identical_threshold,
            "examine_from": min(settings.minimal_examine_from, settings.near_identical_threshold),
            "max_changed_tokens": settings.minimal_max_changed_tokens,
            "max_changed_sentences": settings.minimal_max_changed_sentences}


def _near_identical(con: duckdb.DuckDBPyConnection, settings: PairSettings) -> None:
    """pb_similarity(n, similarity, difference, reason) for the pairs whose lengths allow the
    lowest similarity examined (computed by core/store/pair_worker.py: in a child process for a
    large build)."""
    rules = difference_rules(settings)
    floor = float(rules["examine_from"])
    pair_worker.run(con, "similarity", _SIMILARITY_CANDIDATES, [max(0.0, floor - 0.05)],
                    rules, "pb_similarity")


def _prompt_groups(con: duckdb.DuckDBPyConnection, threshold: float) -> None:
    """pb_groups(prompt_id, prompt_group): near-duplicate prompts share the smallest prompt id."""
    pair_worker.run(con, "groups", "SELECT p.prompt_id, p.prompt FROM prompts p "
                    "SEMI JOIN pb_prompts USING (prompt_id) ORDER BY p.prompt_id", [],
                    threshold, "pb_groups")


def drop_temp(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temp tables `compute` made on `con`."""
    for name in _TEMP_TABLES:
        con.execute(f"DROP TABLE IF EXISTS {name}")



def kept_counts(con: duckdb.DuckDBPyConnection, by: str, before_balance: bool) -> dict[str, int]:
    """Kept pairs per value; with `before_balance`, counting those a balance plan removed."""
    value = _BALANCE_VALUE[by]
    statuses = ["kept", "balanced_out"] if before_balance else ["kept"]
    return {str(k): int(v) for k, v in con.execute(
        f"SELECT {value}, count(*) FROM latest_pairs x JOIN prompts p USING (prompt_id) "
        "WHERE list_contains(?, x.status) GROUP BY 1 ORDER BY 1", [statuses]).fetchall()}


TEXT_PAGE_LIMIT = 10_000  # pairs' texts per kept_pair_texts call


def kept_pair_texts(con: duckdb.DuckDBPyConnection, after: str, limit: int,
                    sources: SourceFilter = SourceFilter()
                    ) -> list[tuple[str, str, str, str, str]]:
    """(pair_id, system or "", prompt, chosen, rejected) of the latest build's kept pairs (of
    the items `sources` lets through) after `after` in pair id order, at most `limit` (token
    lengths read them page by page)."""
    condition, params = source_filter_sql(sources.include, sources.exclude, "x.prompt_id")
    return [tuple(row) for row in con.execute(
        "SELECT x.pair_id, coalesce(p.system, ''), p.prompt, c.text, r.text FROM latest_pairs x "
        "JOIN prompts p USING (prompt_id) JOIN candidates c ON c.candidate_id = x.chosen_id "
        "JOIN candidates r ON r.candidate_id = x.rejected_id "
        f"WHERE x.status = 'kept' AND x.pair_id > ? AND {condition} ORDER BY x.pair_id LIMIT ?",
        [after, *params, limit]).fetchall()]
