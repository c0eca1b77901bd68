"""Where `prefer export` spends its time: the agreement summary for the manifest, each SQL
statement of the pair build (core/store/pairs.py `compute` and `store_rows`) and of the export
(core/store/exporting.py `write_pairs`) timed on its own, plus the Python steps (near-identical
check, prompt groups, validation, sha256), on the export benchmark's store (run.py
`fill_export_store`).

    .venv/bin/python tests/benchmarks/profile_export.py [--pairs 1000000] [--keep DIR]

Runs in this process (not a child), so it shows where time goes, not the command's wall time;
the statements run exactly as the build and the export issue them, multi-statement strings split
at their `;` line ends. With --keep DIR the project is built in DIR and left there (a second
run with the same DIR reuses it), e.g. for EXPLAIN ANALYZE by hand. Where this process's peak
RSS rose by more than 50 MiB, the step is marked with it (reuse a kept store for clean peaks:
filling one in this process sets a high peak first).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from core import export as core_export  # noqa: E402
from core import similarity  # noqa: E402
from core.agreement_report import agreement_summary  # noqa: E402
from core.export import ExportOptions, export_dataset  # noqa: E402
from core.project import open_project  # noqa: E402
from core.store import exporting, pair_worker  # noqa: E402
from core.store import local as local_module  # noqa: E402
from core.store import pairs as pair_sql  # noqa: E402
from core.store.local import LocalStore  # noqa: E402

TIMES: dict[str, float] = defaultdict(float)
ORDER: list[str] = []
PEAK: dict[str, float] = {}  # label -> this process's peak RSS (MiB) after it, where it rose


def _note(label: str, seconds: float) -> None:
    if label not in TIMES:
        ORDER.append(label)
    TIMES[label] += seconds
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if peak > max(PEAK.values(), default=0.0) + 50:
        PEAK[label] = peak


def _label(sql: str) -> str:
    lines = [ln.strip() for ln in sql.strip().splitlines()
             if ln.strip() and not ln.strip().startswith("--")]
    text = " ".join(lines)
    return re.sub(r"\s+", " ", text)[:90]


class TimedConnection:
    """A DuckDB connection whose execute() times each statement (split at `;` line ends)."""

    def __init__(self, con, prefix: str) -> None:
        self._con = con
        self._prefix = prefix

    def execute(self, sql: str, params=None):
        parts = [sql] if params is not None else [p for p in re.split(r";\s*\n", sql) if p.strip()]
        for part in parts:
            t0 = time.perf_counter()
            if params is None:
                self._con.execute(part)
            else:
                self._con.execute(part, params)
            _note(f"{self._prefix}: {_label(part)}", time.perf_counter() - t0)
        return self

    def __getattr__(self, name: str):
        return getattr(self._con, name)


OUTER: list[str] = []  # the Python step running now, for the labels of the calls inside it


def _wrap(module, name: str, label: str) -> None:
    original = getattr(module, name)

    def timed(*args, **kwargs):
        inner = label.startswith("  ")
        full = f"python: {OUTER[-1] if OUTER else '?'}: {label.strip()}" if inner else \
            f"python: {label}"
        if not inner:
            OUTER.append(label.split(" ")[0])
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            if not inner:
                OUTER.pop()
            _note(full, time.perf_counter() - t0)

    setattr(module, name, timed)


def _instrument() -> None:
    compute, store_rows, write = pair_sql.compute, pair_sql.store_rows, exporting.write_pairs
    build_pairs = LocalStore.build_pairs

    def timed_build_pairs(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return build_pairs(self, *args, **kwargs)
        finally:
            _note("== pair build total (LocalStore.build_pairs)", time.perf_counter() - t0)
            timing = self.write_stats()["builds"][-1]
            _note("   of it holding the write lock (recording the build)", timing["holding_lock"])
            _note("   of it deleting the previous build's rows", timing["dropping_old_rows"])

    def timed_compute(cur, *args, **kwargs):
        return compute(TimedConnection(cur, "build"), *args, **kwargs)

    def timed_store_rows(cur, *args, **kwargs):
        return store_rows(TimedConnection(cur, "build"), *args, **kwargs)

    def timed_write(cur, plan, *args):
        t0 = time.perf_counter()
        try:
            return write(TimedConnection(cur, "write"), plan, *args)
        finally:
            _note("== write total (core/store/exporting.py write_pairs)", time.perf_counter() - t0)

    LocalStore.build_pairs = timed_build_pairs
    pair_sql.compute = timed_compute
    pair_sql.store_rows = timed_store_rows
    exporting.write_pairs = timed_write
    _wrap(pair_sql, "_near_identical", "_near_identical (fetch + normalise + similarities)")
    _wrap(pair_sql, "_prompt_groups", "_prompt_groups (fetch + near_duplicate_groups)")
    # Inner calls (leading spaces) are labelled with the step they run in.
    _wrap(similarity, "similarities", "  similarities (RapidFuzz cpdist)")
    _wrap(pair_worker, "score_batch", "  score_batch (normalise + similarities + token diff)")
    _wrap(similarity, "near_duplicate_groups", "  near_duplicate_groups")
    # core/store/local.py calls the module-level function it imported.
    _wrap(local_module, "fill_missing_languages", "fill_missing_languages")
    _wrap(core_export, "validate_file", "validate_file (read back every row)")
    _wrap(core_export, "sha256_file", "sha256_file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    from run import fill_export_store, prefer_bin

    with tempfile.TemporaryDirectory(prefix="prefer-profile-") as tmp:
        work = args.keep or Path(tmp)
        project = work / "export-project"
        if not (project / "prefer.duckdb").exists():
            work.mkdir(parents=True, exist_ok=True)
            subprocess.run([prefer_bin(), "init", str(project)], check=True, capture_output=True)
            t0 = time.perf_counter()
            fill_export_store(project / "prefer.duckdb", work / "baseline.duckdb", args.pairs)
            (work / "baseline.duckdb").unlink()
            print(f"store filled in {time.perf_counter() - t0:.0f} s (not profiled)", flush=True)
        _instrument()
        proj = open_project(project)
        store = LocalStore.open(project / "prefer.duckdb")
        t0 = time.perf_counter()
        try:
            # As `prefer export` (tui/commands/export.py): the manifest's agreement summary first.
            rows = store.agreement_rows()
            _note("python: store.agreement_rows (read the judgments)", time.perf_counter() - t0)
            t1 = time.perf_counter()
            summary = agreement_summary(rows, seed=proj.config.export.seed)
            _note("python: agreement_summary (statistics, bootstrap)", time.perf_counter() - t1)
            t1 = time.perf_counter()
            result = export_dataset(store, proj.config, work / "export-out", ExportOptions(),
                                    actor="profile", guideline_version=proj.guideline_version(),
                                    agreement=summary)
            _note("== export_dataset total", time.perf_counter() - t1)
        finally:
            store.close()
        total = time.perf_counter() - t0
        print(f"as `prefer export` (after imports): {total:.1f} s, "
              f"{sum(result.pairs_by_split.values()):,} pairs")
        for label in ORDER:
            rose = f"  [peak RSS now {PEAK[label]:,.0f} MiB]" if label in PEAK else ""
            print(f"{TIMES[label]:8.2f} s  {label}{rose}")


if __name__ == "__main__":
    main()
