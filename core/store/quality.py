"""Quality SQL for `prefer report`: facts about the kept pairs of the latest build.

Lengths of chosen and rejected, formatting features of each side (lists, headings, code, tables),
which generation variant and which source each side comes from, how old the judgments are and
under which guideline version, counts by dimension, language and prompt source, and the latest
build. Every query is set-based (one pass over the kept pairs), so a million pairs stay fast;
each candidate text goes through the formatting regexes once, however many pairs it is in.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from core.models import QualityFacts, SourceFilter
from core.store.sources.common import source_filter_sql

# Chosen/rejected length ratio, log2 buckets: [0, 1/4), [1/4, 1/2), [1/2, 1), [1, 2), [2, 4), [4, inf).
RATIO_BUCKETS = ("under 1/4", "1/4 to 1/2", "1/2 to 1", "1 to 2", "2 to 4", "4 or more")
RATIO_QUANTILES = (0.10, 0.25, 0.50, 0.75, 0.90)

# Markdown features, one RE2 pattern each ((?m): ^ and $ match at every line).
FORMATTING_PATTERNS = {
    "lists": r"(?m)^[ \t]*([-*+]|\d+[.)])[ \t]",
    "headings": r"(?m)^#{1,6}[ \t]",
    # A fence, or a line indented by 4 spaces or a tab after a blank line (not a nested list).
    "code": r"(?m)^[ \t]*(```|~~~)|(\A|\n[ \t]*\n)(    |\t)[^-*+ \t\n0-9]",
    "tables": r"(?m)^[ \t]*\|.*\|[ \t]*$",
}
# A text can only have the feature when it contains one of these: a cheap test that spares the
# regex a full scan of the (many) texts without it. No entry: always run the regex.
_NEEDLES = {"headings": ("#",), "code": ("```", "~~~", "    ", "\t"), "tables": ("|",)}

# The kept pairs (of some sources only: see kept_of), and the parameters of their condition.
Kept = tuple[str, list]
# The variant that produced a candidate: its latest successful generation (NULL: imported).
_VARIANTS = ("(SELECT candidate_id, arg_max(variant, finished_at) AS value FROM generations "
             "WHERE status = 'ok' AND candidate_id IS NOT NULL GROUP BY candidate_id)")
_SOURCES = "(SELECT candidate_id, source AS value FROM candidates)"


def kept_of(sources: SourceFilter = SourceFilter(), statuses: tuple[str, ...] = ("kept",)
            ) -> Kept:
    """The latest build's pairs with one of `statuses` whose item `sources` lets through (the
    same condition as `--source` on pairs, balance and export), as a subquery and its
    parameters."""
    condition, params = source_filter_sql(sources.include, sources.exclude)
    return (f"(SELECT * FROM latest_pairs WHERE list_contains(?, status) AND {condition})",
            [list(statuses), *params])


def facts(con: duckdb.DuckDBPyConnection, stale_before: datetime,
          guideline_version: str | None = None,
          sources: SourceFilter = SourceFilter()) -> QualityFacts:
    """All the quality facts in one read; `stale_before` is the judged_at cutoff, pairs judged
    under a guideline version other than `guideline_version` (when given) are stale too. With
    `sources`, every fact but the build's own record is of the pairs those sources decided."""
    kept = kept_of(sources)
    lengths = length_stats(con, kept)
    stale = staleness(con, stale_before, guideline_version, kept)
    return QualityFacts(
        kept=lengths[0], statuses=status_counts(con, sources),
        chosen_longer=lengths[1], same_length=lengths[2], rejected_longer=lengths[3],
        ratio_quantiles=lengths[4], ratio_histogram=ratio_histogram(con, kept),
        median_chars_chosen=lengths[5], median_chars_rejected=lengths[6],
        formatting=formatting(con, kept), by_variant=sides(con, "variant", kept),
        by_source=sides(con, "source", kept), judged_before_cutoff=stale[0], stale=stale[3],
        judged_at_unknown=stale[1], oldest_judged_at=stale[2],
        guideline_versions=guideline_versions(con, kept),
        by_dimension=kept_counts(con, "dimension", kept),
        by_language=kept_counts(con, "language", kept),
        by_prompt_source=kept_counts(con, "prompt_source", kept), latest_build=latest_build(con))


def _pair_lengths(kept: Kept) -> str:
    return (f"(SELECT greatest(length(c.text), 1)::DOUBLE AS chosen, "
            f"greatest(length(r.text), 1)::DOUBLE AS rejected FROM {kept[0]} p "
            "JOIN candidates c ON c.candidate_id = p.chosen_id "
            "JOIN candidates r ON r.candidate_id = p.rejected_id)")


def length_stats(con: duckdb.DuckDBPyConnection, kept: Kept = kept_of()
                 ) -> tuple[int, int, int, int, tuple[float, ...], float | None, float | None]:
    """(pairs, chosen longer, same length, rejected longer, ratio quantiles, median chars of
    chosen, of rejected), lengths in characters."""
    row = con.execute(
        f"""
        SELECT count(*), count(*) FILTER (WHERE chosen > rejected),
               count(*) FILTER (WHERE chosen = rejected), count(*) FILTER (WHERE chosen < rejected),
               quantile_cont(chosen / rejected, ?), median(chosen), median(rejected)
        FROM {_pair_lengths(kept)}
        """, [list(RATIO_QUANTILES), *kept[1]]).fetchone()
    assert row is not None
    quantiles = tuple(float(q) for q in row[4]) if row[4] is not None else ()
    return (int(row[0]), int(row[1]), int(row[2]), int(row[3]), quantiles,
            float(row[5]) if row[5] is not None else None,
            float(row[6]) if row[6] is not None else None)


def ratio_histogram(con: duckdb.DuckDBPyConnection, kept: Kept = kept_of()) -> tuple[int, ...]:
    """Kept pairs per chosen/rejected length-ratio bucket (RATIO_BUCKETS)."""
    rows = con.execute(
        f"""
        SELECT least(greatest(floor(log2(chosen / rejected)), -3), 2)::INTEGER + 3 AS bucket,
               count(*)
        FROM {_pair_lengths(kept)} GROUP BY bucket
        """, kept[1]).fetchall()
    found = dict(rows)
    return tuple(int(found.get(i, 0)) for i in range(len(RATIO_BUCKETS)))


def formatting(con: duckdb.DuckDBPyConnection, kept: Kept = kept_of()
               ) -> dict[str, tuple[int, int, int, int]]:
    """Per feature: kept pairs where only chosen has it, only rejected, both, neither."""
    names = list(FORMATTING_PATTERNS)
    features, params = [], []
    for i, name in enumerate(names):
        needles = _NEEDLES.get(name, ())
        test = "regexp_matches(c.text, ?)"
        if needles:
            test = (f"CASE WHEN {' OR '.join(['contains(c.text, ?)'] * len(needles))} "
                    f"THEN {test} ELSE false END")
        features.append(f"{test} AS f{i}")
        params += [*needles, FORMATTING_PATTERNS[name]]
    counts = ", ".join(
        f"count(*) FILTER (WHERE fc.f{i} AND NOT fr.f{i}), "
        f"count(*) FILTER (WHERE fr.f{i} AND NOT fc.f{i}), "
        f"count(*) FILTER (WHERE fc.f{i} AND fr.f{i}), "
        f"count(*) FILTER (WHERE NOT fc.f{i} AND NOT fr.f{i})" for i in range(len(names)))
    row = con.execute(
        f"""
        WITH k AS (SELECT chosen_id, rejected_id FROM {kept[0]}),
             used AS (SELECT chosen_id AS candidate_id FROM k UNION SELECT rejected_id FROM k),
             f AS (SELECT c.candidate_id, {", ".join(features)} FROM candidates c
                   SEMI JOIN used ON used.candidate_id = c.candidate_id)
        SELECT {counts} FROM k
        JOIN f fc ON fc.candidate_id = k.chosen_id
        JOIN f fr ON fr.candidate_id = k.rejected_id
        """, [*kept[1], *params]).fetchone()
    assert row is not None
    return {name: tuple(int(v) for v in row[4 * i:4 * i + 4])  # type: ignore[misc]
            for i, name in enumerate(names)}


def sides(con: duckdb.DuckDBPyConnection, by: str, kept: Kept = kept_of()
          ) -> tuple[tuple[str | None, int, int, int], ...]:
    """Per generation variant (`by="variant"`, None: imported) or candidate source: kept pairs
    where only the chosen side comes from it, only the rejected side, and both sides."""
    lookup = {"variant": _VARIANTS, "source": _SOURCES}[by]
    rows = con.execute(
        f"""
        WITH k AS (SELECT vc.value AS chosen, vr.value AS rejected FROM {kept[0]} p
                   LEFT JOIN {lookup} vc ON vc.candidate_id = p.chosen_id
                   LEFT JOIN {lookup} vr ON vr.candidate_id = p.rejected_id),
             s AS (SELECT chosen AS value,
                          CASE WHEN chosen IS NOT DISTINCT FROM rejected THEN 'b' ELSE 'c' END AS side
                   FROM k
                   UNION ALL
                   SELECT rejected, 'r' FROM k WHERE chosen IS DISTINCT FROM rejected)
        SELECT value, count(*) FILTER (WHERE side = 'c'), count(*) FILTER (WHERE side = 'r'),
               count(*) FILTER (WHERE side = 'b')
        FROM s GROUP BY value ORDER BY count(*) DESC, value NULLS FIRST
        """, kept[1]).fetchall()
    return tuple((value, int(c), int(r), int(b)) for value, c, r, b in rows)


def staleness(con: duckdb.DuckDBPyConnection, stale_before: datetime,
              guideline_version: str | None = None, kept: Kept = kept_of()
              ) -> tuple[int, int, datetime | None, int]:
    """(kept pairs judged before `stale_before`, with no judged_at, the oldest judged_at, pairs
    stale by either age or a known guideline version other than `guideline_version`)."""
    row = con.execute(
        "SELECT count(*) FILTER (WHERE judged_at < ?), count(*) FILTER (WHERE judged_at IS NULL), "
        "min(judged_at), count(*) FILTER (WHERE judged_at < ? OR (? IS NOT NULL AND "
        f"guideline_version IS NOT NULL AND guideline_version <> ?)) FROM {kept[0]}",
        [stale_before, stale_before, guideline_version, guideline_version, *kept[1]]).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), row[2], int(row[3])


def guideline_versions(con: duckdb.DuckDBPyConnection, kept: Kept = kept_of()
                       ) -> dict[str | None, int]:
    """Kept pairs per guideline version they were judged under (None: unknown)."""
    rows = con.execute(f"SELECT guideline_version, count(*) FROM {kept[0]} "
                       "GROUP BY guideline_version ORDER BY count(*) DESC", kept[1]).fetchall()
    return {version: int(n) for version, n in rows}


def kept_counts(con: duckdb.DuckDBPyConnection, by: str, kept: Kept = kept_of()
                ) -> dict[str, int]:
    """Kept pairs per dimension, language or prompt source (the file the prompt came from)."""
    column = {"dimension": "p.dimension", "language": "p.language",
              "prompt_source": "coalesce(pr.source, 'unknown')"}[by]
    rows = con.execute(
        f"SELECT {column} AS value, count(*) FROM {kept[0]} p "
        "LEFT JOIN prompts pr ON pr.prompt_id = p.prompt_id GROUP BY value ORDER BY value",
        kept[1]).fetchall()
    return {str(value): int(n) for value, n in rows}


def status_counts(con: duckdb.DuckDBPyConnection, sources: SourceFilter = SourceFilter()
                  ) -> dict[str, int]:
    """Pairs of the latest build per status ('kept' or the filter that dropped them), of the
    items `sources` lets through."""
    condition, params = source_filter_sql(sources.include, sources.exclude)
    rows = con.execute(f"SELECT status, count(*) FROM latest_pairs WHERE {condition} "
                       "GROUP BY status ORDER BY status", params).fetchall()
    return {status: int(n) for status, n in rows}


def latest_build(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """(build_id, built_by, built_at, strategy, settings, counts) of the latest build."""
    row = con.execute("SELECT build_id, built_by, built_at, strategy, settings, counts "
                      "FROM pair_builds ORDER BY built_at DESC, build_id DESC LIMIT 1").fetchone()
    return tuple(row) if row else None
