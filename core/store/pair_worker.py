"""The pair build's Python steps (similarity scores and minimal/trivial classes, near-duplicate
prompt groups), in this
process for small builds and in a child process for large ones.

Why a child: these steps are pure Python for tens of seconds at a million pairs, and in
`prefer serve` the build runs in the server's process, whose threads answer annotators. A
thread that computes in Python holds the GIL most of the time: measured with 20 threads saving,
saves fell from 342/s to 35/s beside such a thread, and to 250/s beside the same work in another
process (docs/benchmarks.md). So above CHILD_ROWS rows the build hands the rows over in a
Parquet file (written by DuckDB from the build's snapshot, without the GIL), runs

    python -m core.store.pair_worker similarity|groups IN.parquet OUT.parquet SETTINGS_JSON

and reads the result back; the files live in a private temporary folder (mode 0700) and are
deleted at once. Both paths compute the same thing with the same code (tests hold them equal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from core import similarity
from core.difference import DifferenceRules, classify

CHILD_ROWS = 20_000  # fewer rows than this: in this process (a child costs ~1 s to start)
BATCH = 50_000  # rows fetched at once: keeps memory flat on a million pairs


def score_batch(batch: list[tuple], rules: DifferenceRules
                ) -> tuple[np.ndarray, list[str | None], list[str | None]]:
    """Similarity, difference class and reason of each row (n, chosen_id, chosen, rejected_id,
    rejected, language): RapidFuzz on the normalised texts, then the token diff
    (core/difference.py) for the rows at least `rules.examine_from` alike."""
    # A candidate is in several pairs of its item (and rows come item by item): normalise
    # each once per batch.
    normal: dict[str, str] = {}
    left = [normal.get(row[1]) or normal.setdefault(row[1], similarity.normalise(row[2]))
            for row in batch]
    right = [normal.get(row[3]) or normal.setdefault(row[3], similarity.normalise(row[4]))
             for row in batch]
    scores = similarity.similarities(left, right)
    kinds: list[str | None] = [None] * len(batch)
    reasons: list[str | None] = [None] * len(batch)
    for i in np.flatnonzero(scores >= rules.examine_from):
        row = batch[int(i)]
        found = classify(row[2], row[4], float(scores[i]), rules, row[5] or "und")
        kinds[int(i)], reasons[int(i)] = found.kind, found.reason
    return scores, kinds, reasons


def similarity_scores(cursor: duckdb.DuckDBPyConnection, rules: dict[str, Any]
                      ) -> dict[str, np.ndarray]:
    """(n, similarity, difference, reason) for the rows (n, chosen_id, chosen, rejected_id,
    rejected, language) that `cursor` has just produced, read in batches (texts are fetched, not
    kept); see `score_batch`."""
    difference_rules = DifferenceRules(**rules)
    numbers: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    kinds: list[str | None] = []
    reasons: list[str | None] = []
    while True:
        batch = cursor.fetchmany(BATCH)
        if not batch:
            break
        numbers.append(np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch)))
        batch_scores, batch_kinds, batch_reasons = score_batch(batch, difference_rules)
        scores.append(batch_scores)
        kinds.extend(batch_kinds)
        reasons.extend(batch_reasons)
    return {"n": np.concatenate(numbers) if numbers else np.zeros(0, dtype=np.int64),
            "similarity": np.concatenate(scores) if scores else np.zeros(0, dtype=np.float64),
            "difference": np.array(kinds, dtype=object),
            "reason": np.array(reasons, dtype=object)}


def prompt_groups(cursor: duckdb.DuckDBPyConnection, threshold: float
                  ) -> dict[str, np.ndarray]:
    """(prompt_id, prompt_group) for the rows (prompt_id, prompt) `cursor` has produced,
    ordered by prompt_id: near-duplicate prompts share the smallest prompt id."""
    rows = cursor.fetchall()
    keys = [r[0] for r in rows]
    groups = similarity.near_duplicate_groups(keys, [r[1] for r in rows], threshold)
    return {"prompt_id": np.array(keys, dtype=object),
            "prompt_group": np.array(groups, dtype=object)}


_STEPS: dict[str, tuple[str, Callable[..., dict[str, np.ndarray]]]] = {
    # In the file's order (item by item, as the build wrote it), streamed in batches.
    "similarity": ("SELECT n, chosen_id, chosen, rejected_id, rejected, language "
                   "FROM read_parquet(?)", similarity_scores),
    "groups": ("SELECT prompt_id, prompt FROM read_parquet(?) ORDER BY prompt_id",
               prompt_groups),
}


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def run(con: duckdb.DuckDBPyConnection, step: str, sql: str, params: list,
        threshold: float | dict[str, Any], table: str) -> None:
    """Create the temp table `table` from the rows of `sql` (in `con`'s transaction) by
    `step` ('similarity' with the difference rules, or 'groups' with a threshold): here, or in
    a child process for CHILD_ROWS or more."""
    rows = con.execute(f"SELECT count(*) FROM ({sql})", params).fetchone()
    if rows is None or rows[0] < CHILD_ROWS:
        result = _STEPS[step][1](con.execute(sql, params), threshold)
    else:
        with tempfile.TemporaryDirectory(prefix="prefer-build-") as folder:
            source, target = Path(folder) / "in.parquet", Path(folder) / "out.parquet"
            con.execute(f"COPY ({sql}) TO {_quoted(source)} (FORMAT parquet)", params)
            child = subprocess.run(
                [sys.executable, "-m", "core.store.pair_worker", step, str(source),
                 str(target), json.dumps(threshold)], capture_output=True, text=True,
                check=False)
            if child.returncode != 0:
                raise RuntimeError(f"the pair build's {step} step failed in its worker process: "
                                   f"{child.stderr.strip()[-2000:]}")
            con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM read_parquet("
                        f"{_quoted(target)})")
            return
    view = f"{table}_view"
    con.register(view, result)
    con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {view}")
    con.unregister(view)


def main(argv: list[str]) -> None:
    step, source, target, threshold = argv
    sql, compute = _STEPS[step]
    os.nice(10)  # on a busy machine the annotators' saves go first
    con = duckdb.connect()  # in memory: only the files are shared
    con.execute("SET threads = 1")  # one core, as the build in the server would use
    result = compute(con.execute(sql, [source]), json.loads(threshold))
    con.register("result_view", result)
    con.execute(f"COPY result_view TO {_quoted(Path(target))} (FORMAT parquet)")


if __name__ == "__main__":
    main(sys.argv[1:])
