"""Export SQL: the kept pairs of the latest build (core/store/pairs.py), a seeded split grouped
by near-duplicate prompts and stratified by dimension, files written by DuckDB's COPY.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb

from core import export_formats as fmt
from core.errors import BadInputError
from core.models import ExportCounts, ExportRequest, SpoolFile
from core.store.imports import blank as _blank
from core.store.sources import common as source_common

SPLITS = ("train", "validation")  # the spool's file names, one per split


# The kept pairs of the latest build (core/store/pairs.py), with what the rows need per prompt.
_EXPORT_PAIRS = f"""
CREATE TEMP TABLE export_pairs AS
SELECT x.prompt_id, x.chosen_id, x.rejected_id, x.chosen_pos, x.rejected_pos, x.dimension,
       x.language, x.prompt_group, x.pair_id, x.agreement, x.similarity, x.decision,
       p.system IS NOT NULL AND NOT {_blank('p.system')} AS has_system
FROM latest_pairs x JOIN prompts p USING (prompt_id)
WHERE x.status = 'kept'
"""
_LATEST_BUILD = ("SELECT build_id FROM pair_builds ORDER BY built_at DESC, build_id DESC "
                 "LIMIT 1")


class BuildReplaced(Exception):
    """The build an export was asked to write is no longer the latest."""

# The split unit is a group of near-duplicate prompts (so no prompt leaks into validation
# through a near copy), stratified by dimension: within each dimension, groups in seeded
# order go to validation until round(fraction x its prompts) are there.
# A group's draw and dimension come from its texts (the smallest sha256 of a prompt's system
# prompt and text), never from ids: the same labels under other prompt ids give the same split.
_SPLIT = """
CREATE TEMP TABLE export_split AS
WITH prompts_in AS (SELECT x.prompt_id, any_value(x.prompt_group) AS grp,
                           any_value(x.dimension) AS dimension,
                           any_value(sha256(coalesce(p.system, '') || chr(31) || p.prompt))
                               AS text_key
                    FROM export_pairs x JOIN prompts p USING (prompt_id) GROUP BY x.prompt_id),
groups_in AS (SELECT grp, count(*) AS prompts, arg_min(dimension, text_key) AS dimension,
                     sha256($seed || ':' || min(text_key)) AS draw
              FROM prompts_in GROUP BY grp),
totals AS (SELECT dimension, sum(prompts) AS n FROM groups_in GROUP BY dimension),
ordered AS (SELECT g.*, sum(prompts) OVER (PARTITION BY dimension ORDER BY draw, grp
                                           ROWS UNBOUNDED PRECEDING) - prompts AS before
            FROM groups_in g)
SELECT p.prompt_id, o.grp,
       CASE WHEN o.before < round(t.n * $fraction) THEN 'validation' ELSE 'train' END AS split,
       row_number() OVER (ORDER BY o.draw, o.grp, p.prompt_id) AS rank
FROM prompts_in p JOIN ordered o USING (grp) JOIN totals t ON t.dimension = o.dimension
"""

# The rows of one split with their texts, joined only here (has_system is the pair's
# `system IS NOT NULL AND trim(system) <> ''`, computed once per prompt).
_SPLIT_ROWS = (
    "FROM (SELECT x.chosen_pos, x.rejected_pos, x.has_system, s.rank, p.prompt, p.system, p.turns, "
    "c.text AS chosen, r.text AS rejected, x.prompt_id, x.chosen_id, x.rejected_id, "
    "x.dimension, p.language, s.split, x.pair_id, x.agreement, x.similarity, x.prompt_group, "
    "x.decision AS pair_decision, x.language AS pair_language FROM export_pairs x "
    "JOIN export_split s ON s.prompt_id = x.prompt_id "
    "JOIN prompts p ON p.prompt_id = x.prompt_id "
    "JOIN candidates c ON c.candidate_id = x.chosen_id "
    "JOIN candidates r ON r.candidate_id = x.rejected_id "
    "WHERE s.split = '{split}') AS q "
    "ORDER BY rank, chosen_pos, rejected_pos"
)


def write_pairs(con: duckdb.DuckDBPyConnection, request: ExportRequest,
                folder: Path) -> ExportCounts:
    """Write the kept pairs of the latest build into `folder`/train and /validation in the
    layout `request` names; count what went where.

    Reads only (and temp tables): the caller runs it in one transaction, so every statement
    reads the same snapshot, whatever builds and saves commit meanwhile. With
    `request.build_id`, fails (BuildReplaced) when another build has replaced that one.
    """
    if request.build_id is not None:
        latest = con.execute(_LATEST_BUILD).fetchone()
        if latest is None or latest[0] != request.build_id:
            raise BuildReplaced(f"pair build {request.build_id} was replaced by "
                                f"{latest[0] if latest else 'none'} before the export read it")
    con.execute("DROP TABLE IF EXISTS export_pairs; DROP TABLE IF EXISTS export_split")
    con.execute(_EXPORT_PAIRS)
    if request.sources.active:
        condition, params = source_common.source_filter_sql(request.sources.include,
                                                            request.sources.exclude)
        con.execute(f"DELETE FROM export_pairs WHERE NOT ({condition})", params)
    con.execute(_SPLIT, {"seed": str(request.seed), "fraction": request.validation_fraction})
    _keep_both_splits(con, request.validation_fraction)

    found = con.execute(
        "SELECT count(*) FILTER (WHERE has_system), count(*) FILTER (WHERE p.turns IS NOT NULL) "
        "FROM export_pairs JOIN prompts p USING (prompt_id)").fetchone()
    with_system, multi_turn = (int(found[0]), int(found[1])) if found else (0, 0)
    conversational = request.conversational
    if conversational is None:
        conversational = with_system > 0 or multi_turn > 0
    if multi_turn and fmt.refuses_multi_turn(request.layout, conversational):
        label = fmt.layout_by_kind(request.layout, conversational=conversational).label
        raise BadInputError(
            f"{multi_turn} of the pairs have a multi-turn prompt, which {label} rows cannot "
            "carry (prefer does not flatten a conversation into one prompt)",
            hint="export with " + "; or ".join(fmt.MULTI_TURN_FORMATS))
    layout = fmt.layout_by_kind(request.layout, conversational=conversational)
    if multi_turn and layout.kind == "jsonl":
        layout = dataclasses.replace(layout, row_sql=layout.row_sql + fmt.PLAIN_JSONL_TURNS)
    for split in SPLITS:
        # DuckDB writes one JSON object per line; struct field order is kept as written.
        con.execute(
            f"COPY ({layout.row_sql} {_SPLIT_ROWS.format(split=split)}) "
            f"TO '{_sql_path(str(folder / split))}' ({layout.copy_options})"
        )

    counts = ExportCounts(conversational=conversational, files={
        split: SpoolFile(name, (folder / split).stat().st_size)
        for split, name in zip(SPLITS, (layout.train_file, layout.validation_file), strict=True)})
    for split, dimension, language, pairs in con.execute(
        "SELECT split, dimension, language, count(*) FROM export_pairs "
        "JOIN export_split USING (prompt_id) GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        by_dim = counts.pairs_by_split_and_dimension.setdefault(split, {})
        by_dim[dimension] = by_dim.get(dimension, 0) + int(pairs)
        counts.pairs_by_split_dimension_language.setdefault(split, {}).setdefault(
            dimension, {})[language] = int(pairs)
    for split in ("train", "validation"):
        by_dim = counts.pairs_by_split_and_dimension.setdefault(split, {})
        counts.pairs_by_split[split] = sum(by_dim.values())
        counts.pairs_by_split_dimension_language.setdefault(split, {})
    with_system = con.execute("SELECT count(*) FILTER (WHERE has_system) FROM export_pairs "
                              "SEMI JOIN export_split USING (prompt_id)").fetchone()
    counts.pairs_with_system = int(with_system[0]) if with_system else 0
    counts.prompts_by_split = {"train": 0, "validation": 0}
    for split, prompts in con.execute(
        "SELECT split, count(*) FROM export_split GROUP BY split"
    ).fetchall():
        counts.prompts_by_split[split] = int(prompts)
    for dimension, split, prompts in con.execute(
        "SELECT dimension, split, count(DISTINCT prompt_id) FROM export_pairs "
        "JOIN export_split USING (prompt_id) GROUP BY ALL ORDER BY ALL"
    ).fetchall():
        counts.prompts_by_dimension_and_split.setdefault(dimension, {"train": 0,
                                                                     "validation": 0})
        counts.prompts_by_dimension_and_split[dimension][split] = int(prompts)
    con.execute("DROP TABLE export_pairs; DROP TABLE export_split")
    return counts


def _keep_both_splits(con: duckdb.DuckDBPyConnection, fraction: float) -> None:
    """Small datasets round every dimension's validation share to 0 (or all): with a fraction
    above 0 and two or more groups, move one group so each split has at least one."""
    row = con.execute("SELECT count(DISTINCT grp), count(DISTINCT grp) FILTER "
                      "(WHERE split = 'validation') FROM export_split").fetchone()
    groups, in_validation = (int(row[0]), int(row[1])) if row else (0, 0)
    if fraction <= 0 or groups < 2:
        return
    if in_validation == 0:
        con.execute("UPDATE export_split SET split = 'validation' WHERE grp = "
                    "(SELECT grp FROM export_split ORDER BY rank LIMIT 1)")
    elif in_validation == groups:
        con.execute("UPDATE export_split SET split = 'train' WHERE grp = "
                    "(SELECT grp FROM export_split ORDER BY rank DESC LIMIT 1)")


def _sql_path(path: str) -> str:
    # COPY ... TO takes no bound parameter for its target; quote the literal safely.
    return path.replace("'", "''")
