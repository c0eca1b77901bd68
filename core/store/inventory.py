"""Looking inside the store and undoing mistakes: items, import batches, annotators, removals.

Reads for `prefer items`, `prefer imports` and `prefer annotators`, and the SQL of the two
removals. A removal deletes rows earlier events wrote, so it goes through audit_rows.Rewrites:
each earlier event's rows are checked against what the chain last said of them, and the
removal's own event restates what is left of each (usually nothing), so `prefer audit --verify`
keeps vouching for every remaining row and reports nothing for the deleted ones.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import duckdb

from core.models import AnnotatorSummary, ImportBatch, ItemFilter, ItemSummary, PairRow
from core.store.audit_rows import Rewrites

IMPORT_ACTIONS = {"import": "prompts", "import-judgments": "judgments"}
_CURRENT = "current_judgments"

# --- ids by prefix -----------------------------------------------------------------------------

_ID_COLUMNS = {"prompt": ("prompts", "prompt_id"), "candidate": ("candidates", "candidate_id")}


def ids_with_prefix(cur: duckdb.DuckDBPyConnection, kind: str, prefix: str, limit: int
                    ) -> list[str]:
    """Up to `limit` ids of `kind` (prompt, candidate) that start with `prefix`, sorted; an id
    equal to `prefix` comes first (it is never ambiguous)."""
    table, column = _ID_COLUMNS[kind]
    return [r[0] for r in cur.execute(
        f"SELECT {column} FROM {table} WHERE starts_with({column}, ?) "
        f"ORDER BY {column} <> ?, {column} LIMIT ?", [prefix, prefix, limit]).fetchall()]


# --- items -------------------------------------------------------------------------------------

def list_items(cur: duckdb.DuckDBPyConnection, where: ItemFilter, disputed: set[str],
               flagged: set[str]) -> list[ItemSummary]:
    """Items matching `where` in import order; `disputed` and `flagged` come from the
    disagreement rules (core/adjudication.py), which are not SQL."""
    conditions, params = ["TRUE"], []
    if where.dimension is not None:
        conditions.append("p.dimension = ?")
        params.append(where.dimension)
    if where.language is not None:
        conditions.append("p.language = ?")
        params.append(where.language)
    if where.source is not None:
        conditions.append("contains(p.source, ?)")
        params.append(where.source)
    status = where.status
    if status in ("disputed", "flagged", "held-back"):
        wanted = {"disputed": disputed, "flagged": flagged,
                  "held-back": disputed | flagged}[status]
        conditions.append("list_contains(?, p.prompt_id)")
        params.append(sorted(wanted))
    elif status == "judged":
        conditions.append("j.judged > 0")
    elif status == "unjudged":
        conditions.append("coalesce(j.judged, 0) = 0")
    elif status == "decided":
        conditions.append("a.prompt_id IS NOT NULL")
    limit = f"LIMIT {int(where.limit)}" if where.limit else ""
    rows = cur.execute(f"""
        WITH judged AS (
            SELECT prompt_id, count(DISTINCT annotator) AS judged FROM (
                SELECT prompt_id, annotator FROM {_CURRENT} WHERE kind = 'ranked'
                UNION ALL SELECT prompt_id, annotator FROM pairwise_judgments)
            GROUP BY prompt_id),
        cands AS (SELECT prompt_id, count(*) AS n FROM candidates GROUP BY prompt_id),
        decided AS (SELECT DISTINCT prompt_id FROM adjudications)
        SELECT p.prompt_id, p.prompt, p.dimension, p.language, p.source, coalesce(c.n, 0),
               coalesce(j.judged, 0), a.prompt_id IS NOT NULL
        FROM prompts p LEFT JOIN cands c USING (prompt_id) LEFT JOIN judged j USING (prompt_id)
             LEFT JOIN decided a USING (prompt_id)
        WHERE {' AND '.join(conditions)}
        ORDER BY p.imported_at, p.source, p.source_line, p.prompt_id {limit}
        """, params).fetchall()
    found = []
    for prompt_id, prompt, dimension, language, source, candidates, judged, decided in rows:
        statuses = [s for s, on in (("flagged", prompt_id in flagged),
                                    ("disputed", prompt_id in disputed),
                                    ("decided", decided), ("judged", judged > 0)) if on]
        found.append(ItemSummary(prompt_id, prompt, dimension, language, source, int(candidates),
                                 int(judged), tuple(statuses) or ("unjudged",)))
    return found


def item_facts(cur: duckdb.DuckDBPyConnection, prompt_id: str
               ) -> tuple[Any, dict[str, str], list[str], bool, list[PairRow], str | None]:
    """(imported_at, candidate sources, assigned annotators, gold, pairs of the latest build,
    that build's id) of one item."""
    imported = cur.execute("SELECT imported_at FROM prompts WHERE prompt_id = ?",
                           [prompt_id]).fetchone()
    sources = {cid: "generated" if origin == "generated" else (source or origin)
               for cid, origin, source in cur.execute(
                   "SELECT candidate_id, origin, source FROM candidates WHERE prompt_id = ?",
                   [prompt_id]).fetchall()}
    assigned = [r[0] for r in cur.execute(
        "SELECT annotator FROM assignments WHERE prompt_id = ? AND released_at IS NULL "
        "ORDER BY annotator", [prompt_id]).fetchall()]
    gold = cur.execute("SELECT count(*) FROM gold_items WHERE prompt_id = ?",
                       [prompt_id]).fetchone()
    build = cur.execute("SELECT build_id FROM pair_builds ORDER BY built_at DESC LIMIT 1"
                        ).fetchone()
    pairs = [PairRow(*r) for r in cur.execute(
        "SELECT chosen_id, rejected_id, status, dimension, decision FROM pairs "
        "WHERE prompt_id = ? ORDER BY status <> 'kept', chosen_pos, rejected_pos",
        [prompt_id]).fetchall()]
    return (imported[0] if imported else None, sources, assigned, bool(gold and gold[0]), pairs,
            build[0] if build else None)


# --- import batches ----------------------------------------------------------------------------

def import_batches(cur: duckdb.DuckDBPyConnection, seq: int | None = None) -> list[ImportBatch]:
    """Every import event (or the one numbered `seq`) with the rows it still holds."""
    actions = list(IMPORT_ACTIONS)
    rows = cur.execute("""
        WITH held AS (
            SELECT event_seq, 'prompts' AS t, count(*) AS n FROM prompts GROUP BY 1
            UNION ALL SELECT event_seq, 'candidates', count(*) FROM candidates GROUP BY 1
            UNION ALL SELECT event_seq, 'judgments', count(*) FROM judgments GROUP BY 1
            UNION ALL SELECT event_seq, 'judgments', count(*) FROM pairwise_judgments GROUP BY 1)
        SELECT e.seq, e.action, e.subject, e.occurred_at, e.actor,
               coalesce(sum(h.n) FILTER (WHERE h.t = 'prompts'), 0),
               coalesce(sum(h.n) FILTER (WHERE h.t = 'candidates'), 0),
               coalesce(sum(h.n) FILTER (WHERE h.t = 'judgments'), 0)
        FROM events e LEFT JOIN held h ON h.event_seq = e.seq
        WHERE list_contains(?, e.action) AND (? IS NULL OR e.seq = ?)
        GROUP BY ALL ORDER BY e.seq
        """, [actions, seq, seq]).fetchall()
    return [ImportBatch(f"i{r[0]}", int(r[0]), IMPORT_ACTIONS[r[1]], r[2] or "", r[3], r[4],
                        int(r[5]), int(r[6]), int(r[7])) for r in rows]


def _stage_batch(cur: duckdb.DuckDBPyConnection, seq: int) -> None:
    """Temp tables of what removing batch `seq` touches: its prompts with all their candidates,
    its candidates on other prompts, its judgments; and every row of work that depends on them."""
    cur.execute("CREATE OR REPLACE TEMP TABLE rm_prompts AS "
                "SELECT prompt_id FROM prompts WHERE event_seq = ?", [seq])
    cur.execute("CREATE OR REPLACE TEMP TABLE rm_candidates AS "
                "SELECT candidate_id, prompt_id FROM candidates WHERE event_seq = ? "
                "OR prompt_id IN (SELECT prompt_id FROM rm_prompts)", [seq])
    cur.execute("CREATE OR REPLACE TEMP TABLE rm_own_judgments AS "
                "SELECT judgment_id FROM judgments WHERE event_seq = ?", [seq])
    cur.execute("CREATE OR REPLACE TEMP TABLE rm_own_pairwise AS "
                "SELECT pairwise_id FROM pairwise_judgments WHERE event_seq = ?", [seq])
    # Work by people on the rows that go: judgments that saw a removed candidate or revise one
    # of the batch's judgments, labels comparing one, decisions, flags, gold marks, assignments.
    cur.execute("""
        CREATE OR REPLACE TEMP TABLE rm_judgments AS
        SELECT judgment_id FROM judgments j WHERE judgment_id NOT IN
            (SELECT judgment_id FROM rm_own_judgments)
          AND (prompt_id IN (SELECT prompt_id FROM rm_prompts)
               OR len(list_intersect(shown_order, (SELECT list(candidate_id)
                                                   FROM rm_candidates))) > 0
               OR supersedes IN (SELECT judgment_id FROM rm_own_judgments))""")
    cur.execute("""
        CREATE OR REPLACE TEMP TABLE rm_pairwise AS
        SELECT pairwise_id FROM pairwise_judgments WHERE pairwise_id NOT IN
            (SELECT pairwise_id FROM rm_own_pairwise)
          AND (prompt_id IN (SELECT prompt_id FROM rm_prompts)
               OR first_candidate_id IN (SELECT candidate_id FROM rm_candidates)
               OR second_candidate_id IN (SELECT candidate_id FROM rm_candidates))""")
    cur.execute("""
        CREATE OR REPLACE TEMP TABLE rm_touched_prompts AS
        SELECT prompt_id FROM rm_prompts
        UNION SELECT prompt_id FROM judgments WHERE judgment_id IN
            (SELECT judgment_id FROM rm_own_judgments)
        UNION SELECT prompt_id FROM pairwise_judgments WHERE pairwise_id IN
            (SELECT pairwise_id FROM rm_own_pairwise)""")


_DEPENDENT_WHERE: dict[str, str] = {
    "judgments": "judgment_id IN (SELECT judgment_id FROM rm_judgments)",
    "pairwise_judgments": "pairwise_id IN (SELECT pairwise_id FROM rm_pairwise)",
    "adjudications": "prompt_id IN (SELECT prompt_id FROM rm_touched_prompts) "
                     "OR best_candidate_id IN (SELECT candidate_id FROM rm_candidates) "
                     "OR worst_candidate_id IN (SELECT candidate_id FROM rm_candidates)",
    "flags": "prompt_id IN (SELECT prompt_id FROM rm_prompts)",
    "gold_items": "prompt_id IN (SELECT prompt_id FROM rm_prompts) "
                  "OR best_candidate_id IN (SELECT candidate_id FROM rm_candidates) "
                  "OR worst_candidate_id IN (SELECT candidate_id FROM rm_candidates)",
    "assignments": "prompt_id IN (SELECT prompt_id FROM rm_prompts)",
}
_DEPENDENT_WORDS = {"judgments": "judgment", "pairwise_judgments": "pairwise label",
                    "adjudications": "reviewer decision", "flags": "flag",
                    "gold_items": "gold mark", "assignments": "assignment"}


def batch_dependents(cur: duckdb.DuckDBPyConnection, seq: int) -> dict[str, int]:
    """Rows of people's work on batch `seq`'s rows, by table (only tables with some)."""
    _stage_batch(cur, seq)
    counts = cur.execute(" UNION ALL ".join(
        f"SELECT '{table}', count(*) FROM {table} WHERE {where}"
        for table, where in _DEPENDENT_WHERE.items())).fetchall()
    return {table: int(n) for table, n in counts if n}


def describe_dependents(dependents: dict[str, int]) -> str:
    """'3 judgments, 1 flag' in words."""
    return ", ".join(f"{n} {_DEPENDENT_WORDS[t]}{'' if n == 1 else 's'}"
                     for t, n in dependents.items())


def _rankings_where(judgments_where: str) -> str:
    return f"judgment_id IN (SELECT judgment_id FROM judgments WHERE {judgments_where})"


def _delete(cur: duckdb.DuckDBPyConnection, rewrites: Rewrites, table: str, where: str,
            params: Sequence[Any] = ()) -> int:
    """Delete rows of `table` (a covered table: restated through `rewrites` first)."""
    rewrites.before(table, where, params)
    row = cur.execute(f"DELETE FROM {table} WHERE {where} RETURNING 1", list(params)).fetchall()
    return len(row)


def remove_batch(cur: duckdb.DuckDBPyConnection, seq: int, rewrites: Rewrites) -> dict[str, int]:
    """Delete import batch `seq`, and the work on it `batch_dependents` found (the caller has
    checked it may): rows by table. Derived rows (pairs) of the touched items go too."""
    _stage_batch(cur, seq)
    removed: dict[str, int] = {}

    def gone(table: str, where: str, params: Sequence[Any] = ()) -> None:
        count = _delete(cur, rewrites, table, where, params)
        if count:
            removed[table] = removed.get(table, 0) + count

    gone("flag_resolutions", "flag_id IN (SELECT flag_id FROM flags WHERE "
         f"{_DEPENDENT_WHERE['flags']})")
    for table in ("flags", "gold_items", "assignments", "adjudications"):
        gone(table, _DEPENDENT_WHERE[table])
    every_judgment = ("judgment_id IN (SELECT judgment_id FROM rm_judgments "
                      "UNION SELECT judgment_id FROM rm_own_judgments)")
    gone("judgment_rankings", _rankings_where(every_judgment))
    gone("judgments", every_judgment)
    gone("pairwise_judgments", "pairwise_id IN (SELECT pairwise_id FROM rm_pairwise "
         "UNION SELECT pairwise_id FROM rm_own_pairwise)")
    gone("generations", "candidate_id IN (SELECT candidate_id FROM rm_candidates) "
         "OR prompt_id IN (SELECT prompt_id FROM rm_prompts)")
    gone("candidates", "candidate_id IN (SELECT candidate_id FROM rm_candidates)")
    gone("prompts", "prompt_id IN (SELECT prompt_id FROM rm_prompts)")
    cur.execute("DELETE FROM pairs WHERE prompt_id IN (SELECT prompt_id FROM rm_touched_prompts) "
                "OR chosen_id IN (SELECT candidate_id FROM rm_candidates) "
                "OR rejected_id IN (SELECT candidate_id FROM rm_candidates)")
    for temp in ("rm_prompts", "rm_candidates", "rm_own_judgments", "rm_own_pairwise",
                 "rm_judgments", "rm_pairwise", "rm_touched_prompts"):
        cur.execute(f"DROP TABLE IF EXISTS {temp}")
    return removed


# --- annotators --------------------------------------------------------------------------------

def annotator_summaries(cur: duckdb.DuckDBPyConnection) -> list[AnnotatorSummary]:
    """Everyone with an assignment, a judgment, a pairwise label or a flag, by name."""
    rows = cur.execute(f"""
        WITH people AS (
            SELECT annotator FROM assignments UNION SELECT annotator FROM judgments
            UNION SELECT annotator FROM pairwise_judgments UNION SELECT annotator FROM flags)
        SELECT p.annotator,
               (SELECT count(*) FROM assignments a WHERE a.annotator = p.annotator
                AND a.released_at IS NULL),
               (SELECT count(*) FROM {_CURRENT} c WHERE c.annotator = p.annotator
                AND c.kind = 'ranked'),
               (SELECT count(*) FROM {_CURRENT} c WHERE c.annotator = p.annotator
                AND c.kind = 'skipped'),
               (SELECT count(*) FROM pairwise_judgments w WHERE w.annotator = p.annotator),
               (SELECT count(*) FROM flags f WHERE f.annotator = p.annotator AND NOT EXISTS
                    (SELECT 1 FROM flag_resolutions r WHERE r.flag_id = f.flag_id)),
               greatest((SELECT max(created_at) FROM judgments j WHERE j.annotator = p.annotator),
                        (SELECT max(created_at) FROM flags f WHERE f.annotator = p.annotator))
        FROM people p ORDER BY p.annotator
        """).fetchall()
    return [AnnotatorSummary(r[0], int(r[1]), int(r[2]), int(r[3]), int(r[4]), int(r[5]), r[6])
            for r in rows]


def remove_annotator_rows(cur: duckdb.DuckDBPyConnection, annotator: str, drop_judgments: bool,
                          rewrites: Rewrites, seq: int, now: Any) -> dict[str, int]:
    """Free `annotator`'s open assignments (kept as history, released by event `seq`); with
    `drop_judgments` delete their assignments, judgments, rankings, pairwise labels and flags."""
    removed: dict[str, int] = {}
    if not drop_judgments:
        where = "annotator = ? AND released_at IS NULL"
        rewrites.before("assignments", where, [annotator])
        released = cur.execute(f"UPDATE assignments SET released_at = ?, event_seq = ? "
                               f"WHERE {where} RETURNING 1", [now, seq, annotator]).fetchall()
        if released:
            removed["assignments released"] = len(released)
        return removed
    mine = "annotator = ?"
    for table, where in (
            ("flag_resolutions", "flag_id IN (SELECT flag_id FROM flags WHERE annotator = ?)"),
            ("flags", mine), ("assignments", mine),
            ("judgment_rankings", _rankings_where("annotator = ?")), ("judgments", mine),
            ("pairwise_judgments", mine)):
        count = _delete(cur, rewrites, table, where, [annotator])
        if count:
            removed[table] = count
    return removed


def details_of(removed: dict[str, int], **extra: Any) -> dict[str, Any]:
    """The removal event's details: what went, by table (json-safe)."""
    return json.loads(json.dumps({"removed": removed, **extra}))
