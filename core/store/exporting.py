"""Export SQL: pairs from current judgments, a seeded split grouped by prompt, JSONL via COPY.

The pair rule (see core/pairs.py for the words): the best candidate is preferred to every other
candidate the annotator was shown, and every candidate other than the best and the worst is
preferred to the worst. An item's decision is its latest adjudication, else its judgments when
no two annotators disagree (core/adjudication.py); other items, and items with an open flag, are
held back (core/store/adjudication.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from core.store.adjudication import EXPORT_DECISIONS, EXPORT_HELD_BACK
from core.store.imports import blank as _blank


@dataclass(frozen=True)
class ExportPlan:
    """What to write and where; the files are written at `train_path` and `validation_path`."""

    train_path: str
    validation_path: str
    validation_fraction: float
    seed: int
    conversational: bool | None  # None: conversational when any exported prompt has a system
    # Another row layout (core/export_formats.py) over _SPLIT_ROWS' columns, and its COPY options.
    row_sql: str | None = None
    copy_options: str = "FORMAT JSON"


@dataclass
class ExportCounts:
    conversational: bool
    pairs_by_split: dict[str, int] = field(default_factory=dict)
    pairs_by_split_and_dimension: dict[str, dict[str, int]] = field(default_factory=dict)
    prompts_by_split: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    held_back_prompts: int = 0
    held_back_flagged: int = 0  # of those, held back by an open flag


# The pair tables hold ids, positions and, per text, a blank flag and a 64-bit hash; the texts
# themselves are read again only where the rules need them (hash-equal pairs, which are rare)
# and by the final COPY. Equal texts have equal hashes, so a hash that occurs once proves there
# is no duplicate; only hash-equal rows are compared on their full texts, so every rule is the
# exact one on texts below.
_BUILD_PAIRS = f"""
CREATE TEMP TABLE export_current AS
SELECT prompt_id, best_candidate_id, worst_candidate_id, shown_order, dimensions, created_at
FROM judgments j
WHERE kind = 'ranked'
  AND NOT EXISTS (SELECT 1 FROM judgments s WHERE s.supersedes = j.judgment_id);

CREATE TEMP TABLE export_decisions AS
SELECT prompt_id,
       count(DISTINCT (best_candidate_id, worst_candidate_id)) AS distinct_decisions,
       arg_min(best_candidate_id, created_at) AS best_candidate_id,
       arg_min(worst_candidate_id, created_at) AS worst_candidate_id,
       arg_min(shown_order, created_at) AS shown_order,
       arg_min(dimensions, created_at) AS dimensions
FROM export_current GROUP BY prompt_id;
{EXPORT_DECISIONS}

CREATE TEMP TABLE export_raw_pairs AS
WITH agreed AS (SELECT * FROM export_final),
shown AS (SELECT prompt_id, best_candidate_id, worst_candidate_id, dimensions,
                 unnest(shown_order) AS candidate_id FROM agreed),
ordered AS (
    SELECT prompt_id, best_candidate_id AS chosen_id, candidate_id AS rejected_id, dimensions
    FROM shown WHERE candidate_id <> best_candidate_id
    UNION ALL
    SELECT prompt_id, candidate_id AS chosen_id, worst_candidate_id AS rejected_id, dimensions
    FROM shown WHERE candidate_id NOT IN (best_candidate_id, worst_candidate_id)
),
p AS (SELECT prompt_id, dimension, {_blank('prompt')} AS blank, hash(prompt) AS prompt_hash,
             hash(coalesce(system, '')) AS system_hash,
             system IS NOT NULL AND NOT {_blank('system')} AS has_system
      FROM prompts WHERE prompt_id IN (SELECT prompt_id FROM agreed)),
c AS (SELECT candidate_id, position, {_blank('text')} AS blank, hash(text) AS text_hash
      FROM candidates WHERE candidate_id IN (
          SELECT unnest(list_concat(shown_order, [best_candidate_id, worst_candidate_id]))
          FROM agreed))
SELECT o.prompt_id, coalesce(o.dimensions[1], p.dimension, 'unspecified') AS dimension,
       o.chosen_id, o.rejected_id, c.position AS chosen_pos, r.position AS rejected_pos,
       p.blank OR c.blank OR r.blank AS empty, p.has_system,
       p.prompt_hash, p.system_hash, c.text_hash AS chosen_hash, r.text_hash AS rejected_hash
FROM ordered o
JOIN p USING (prompt_id)
JOIN c ON c.candidate_id = o.chosen_id
JOIN c AS r ON r.candidate_id = o.rejected_id;

-- Chosen and rejected with the same text: only hash-equal pairs can be, compare their texts.
CREATE TEMP TABLE export_identical AS
SELECT DISTINCT x.chosen_id, x.rejected_id
FROM (SELECT chosen_id, rejected_id FROM export_raw_pairs
      WHERE NOT empty AND chosen_hash = rejected_hash) x
JOIN candidates c ON c.candidate_id = x.chosen_id
JOIN candidates r ON r.candidate_id = x.rejected_id
WHERE c.text = r.text;

-- Duplicates (same prompt, system, chosen and rejected texts) keep the first by position: a
-- pair whose four hashes are unique has no duplicate, the others are ranked on their texts.
CREATE TEMP TABLE export_pairs AS
WITH kept AS (
    SELECT * FROM export_raw_pairs x
    WHERE NOT empty
      AND NOT EXISTS (SELECT 1 FROM export_identical i
                      WHERE i.chosen_id = x.chosen_id AND i.rejected_id = x.rejected_id)
),
shared AS (SELECT prompt_hash, system_hash, chosen_hash, rejected_hash FROM kept
           GROUP BY ALL HAVING count(*) > 1)
SELECT * FROM kept ANTI JOIN shared USING (prompt_hash, system_hash, chosen_hash, rejected_hash)
UNION ALL
SELECT * EXCLUDE (prompt, system, chosen, rejected) FROM (
    SELECT k.*, p.prompt, p.system, c.text AS chosen, r.text AS rejected
    FROM kept k SEMI JOIN shared USING (prompt_hash, system_hash, chosen_hash, rejected_hash)
    JOIN prompts p ON p.prompt_id = k.prompt_id
    JOIN candidates c ON c.candidate_id = k.chosen_id
    JOIN candidates r ON r.candidate_id = k.rejected_id
    QUALIFY row_number() OVER (PARTITION BY prompt, coalesce(system, ''), chosen, rejected
                               ORDER BY chosen_pos, rejected_pos) = 1
);
"""

_SPLIT = """
CREATE TEMP TABLE export_split AS
WITH prompt_order AS (
    SELECT prompt_id, row_number() OVER (ORDER BY sha256(? || ':' || prompt_id)) AS rank
    FROM (SELECT DISTINCT prompt_id FROM export_pairs)
)
SELECT prompt_id, CASE WHEN rank <= ? THEN 'validation' ELSE 'train' END AS split, rank
FROM prompt_order;
"""

_STANDARD_ROW = "SELECT prompt, chosen, rejected"
_CONVERSATIONAL_ROW = (
    "SELECT CASE WHEN has_system "
    "THEN [{'role': 'system', 'content': system}, {'role': 'user', 'content': prompt}] "
    "ELSE [{'role': 'user', 'content': prompt}] END AS prompt, "
    "[{'role': 'assistant', 'content': chosen}] AS chosen, "
    "[{'role': 'assistant', 'content': rejected}] AS rejected"
)
# The rows of one split with their texts, joined only here (has_system is the pair's
# `system IS NOT NULL AND trim(system) <> ''`, computed once per prompt).
_SPLIT_ROWS = (
    "FROM (SELECT x.chosen_pos, x.rejected_pos, x.has_system, s.rank, p.prompt, p.system, "
    "c.text AS chosen, r.text AS rejected, x.prompt_id, x.chosen_id, x.rejected_id, "
    "x.dimension, p.language, s.split FROM export_pairs x "
    "JOIN export_split s ON s.prompt_id = x.prompt_id "
    "JOIN prompts p ON p.prompt_id = x.prompt_id "
    "JOIN candidates c ON c.candidate_id = x.chosen_id "
    "JOIN candidates r ON r.candidate_id = x.rejected_id "
    "WHERE s.split = '{split}') AS q "
    "ORDER BY rank, chosen_pos, rejected_pos"
)


def write_pairs(con: duckdb.DuckDBPyConnection, plan: ExportPlan) -> ExportCounts:
    con.execute(_BUILD_PAIRS)
    raw, kept = con.execute(
        "SELECT (SELECT count(*) FROM export_raw_pairs), (SELECT count(*) FROM export_pairs)"
    ).fetchone() or (0, 0)
    empty = identical = 0
    if raw != kept:  # something was dropped: count why (skipped when nothing was)
        empty, identical = con.execute(
            "SELECT count(*) FILTER (WHERE empty), "
            "count(*) FILTER (WHERE NOT empty AND EXISTS (SELECT 1 FROM export_identical i "
            "WHERE i.chosen_id = x.chosen_id AND i.rejected_id = x.rejected_id)) "
            "FROM export_raw_pairs x"
        ).fetchone() or (0, 0)
    held = con.execute(EXPORT_HELD_BACK).fetchone()
    con.execute("DROP TABLE export_current; DROP TABLE export_raw_pairs")  # free them for the COPY
    n_prompts = con.execute("SELECT count(DISTINCT prompt_id) FROM export_pairs").fetchone()
    prompt_count = int(n_prompts[0]) if n_prompts else 0
    n_validation = round(prompt_count * plan.validation_fraction)
    if prompt_count >= 2 and plan.validation_fraction > 0:
        n_validation = min(max(n_validation, 1), prompt_count - 1)
    con.execute(_SPLIT, [str(plan.seed), n_validation])

    conversational = plan.conversational
    if conversational is None:
        has_system = con.execute(
            "SELECT count(*) > 0 FROM export_pairs WHERE has_system"
        ).fetchone()
        conversational = bool(has_system and has_system[0])
    row_sql = plan.row_sql or (_CONVERSATIONAL_ROW if conversational else _STANDARD_ROW)
    for split, path in (("train", plan.train_path), ("validation", plan.validation_path)):
        # DuckDB writes one JSON object per line; struct field order is kept as written.
        con.execute(
            f"COPY ({row_sql} {_SPLIT_ROWS.format(split=split)}) "
            f"TO '{_sql_path(path)}' ({plan.copy_options})"
        )

    counts = ExportCounts(conversational=conversational)
    counts.dropped = {"empty_field": int(empty), "identical_texts": int(identical),
                      "duplicate_pair": int(raw) - int(kept) - int(empty) - int(identical)}
    counts.held_back_prompts = int(held[0]) if held else 0
    counts.held_back_flagged = int(held[1]) if held else 0
    for split, dimension, pairs in con.execute(
        "SELECT split, dimension, count(*) FROM export_pairs JOIN export_split USING (prompt_id) "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        counts.pairs_by_split_and_dimension.setdefault(split, {})[dimension] = int(pairs)
    for split in ("train", "validation"):
        by_dim = counts.pairs_by_split_and_dimension.setdefault(split, {})
        counts.pairs_by_split[split] = sum(by_dim.values())
    counts.prompts_by_split = {"train": 0, "validation": 0}
    for split, prompts in con.execute(
        "SELECT split, count(*) FROM export_split GROUP BY split"
    ).fetchall():
        counts.prompts_by_split[split] = int(prompts)
    return counts


def _sql_path(path: str) -> str:
    # COPY ... TO takes no bound parameter for its target; quote the literal safely.
    return path.replace("'", "''")
