"""Benchmark: agreement over 100,000 judgments from 5 annotators, with bootstrap intervals.

Setup (not timed): 25,000 items with 4 candidates, each judged by 4 of 5 annotators (100,000
current judgments, best/worst mode, about 15% disagreement), inserted straight into a project's
store. Timed, in a fresh child process whose peak RSS is its own: `prefer agreement --json`
(read the store, form the labels, every statistic with 2,000 bootstrap resamples, the pair
matrix, per-annotator figures). Aim: under 10 s on 2 cores.

    .venv/bin/python tests/benchmarks/bench_agreement.py [--items 25000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import duckdb  # noqa: E402

from core.project import init_project  # noqa: E402
from core.store import open_store  # noqa: E402

PREFER = str(Path(sys.executable).parent / "prefer")

SETUP = """
INSERT INTO prompts SELECT 'p' || i, 'Question ' || i, NULL,
       ['tone','accuracy','compliance','disclosure','safety'][1 + i % 5], 'en', 'bench', i, now(),
       'given'
FROM range(?) t(i);
INSERT INTO candidates SELECT 'p' || i || 'c' || k, 'p' || i, k + 1, 'Answer ' || k, 'import',
       'bench', now(), 'en'
FROM range(?) t(i), range(4) u(k);
INSERT INTO judgments
SELECT 'j' || i || 'a' || a, 'annotator' || a, 'p' || i, 'ranked',
       CASE WHEN hash(i * 7 + a) % 100 < 15 THEN 'p' || i || 'c1' ELSE 'p' || i || 'c0' END,
       CASE WHEN hash(i * 13 + a) % 100 < 10 THEN 'p' || i || 'c2' ELSE 'p' || i || 'c3' END,
       NULL, [], 'bench', ['p' || i || 'c0', 'p' || i || 'c1', 'p' || i || 'c2', 'p' || i || 'c3'],
       'g', 20 + hash(i + a) % 40, NULL, now()
FROM range(?) t(i), range(5) v(a)
WHERE a <> i % 5;
"""


def prepare(folder: Path, items: int) -> Path:
    project = init_project(folder / "p")
    open_store(project.database_path).close()
    con = duckdb.connect(str(project.database_path))
    for statement in SETUP.strip().split(";\n"):
        if statement.strip():
            con.execute(statement, [items])
    count = con.execute("SELECT count(*) FROM judgments").fetchone()[0]
    con.close()
    if count != items * 4:
        raise SystemExit(f"BENCH FAILED: set-up made {count} judgments, expected {items * 4}")
    return project.root


def run(items: int = 25_000) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="prefer-bench-agreement-") as folder:
        root = prepare(Path(folder), items)
        began = time.perf_counter()
        child = subprocess.Popen([PREFER, "agreement", "-p", str(root), "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        out, _ = child.communicate()
        seconds = time.perf_counter() - began
        if child.returncode != 0:
            raise SystemExit("BENCH FAILED: prefer agreement exited with "
                             f"{child.returncode}")
        report = json.loads(out)
        alpha = next(r for r in report["rows"] if r["statistic"] == "krippendorff_alpha")
        if report["judgments"] != items * 4 or alpha["low"] is None:
            raise SystemExit("BENCH FAILED: the report does not cover every judgment")
    return {"judgments": items * 4, "seconds": seconds, "alpha": alpha["value"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=25_000)
    args = parser.parse_args()
    import resource

    result = run(args.items)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"| agreement over {result['judgments']:,} judgments, 5 annotators, 2,000 resamples "
          f"| {result['seconds']:.1f} s | peak {peak:.0f} MiB | alpha {result['alpha']:.3f} |")


if __name__ == "__main__":
    main()
