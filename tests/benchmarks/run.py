"""Benchmarks of `prefer`: import and export against bare DuckDB, near-duplicate filtering
against bare RapidFuzz, generation against a bare Ollama client loop, all in the same run.

    .venv/bin/python tests/benchmarks/run.py              # full run: 1,000,000 rows and pairs
    .venv/bin/python tests/benchmarks/run.py --rows 20000 # quick smoke run (docs untouched)
    .venv/bin/python tests/benchmarks/run.py --only export    # one benchmark only
    .venv/bin/python tests/benchmarks/run.py --only neardup   # near-duplicate throughput only
    .venv/bin/python tests/benchmarks/run.py --only saves     # saves beside a 1M-pair build
    .venv/bin/python tests/benchmarks/run.py --only annotate  # save -> next item in the app

Each measured command runs in a fresh process, spawned by a small launcher process (see
_LAUNCHER: a child spawned by this script would count this script's peak memory as its own);
its wall time is taken around it and its peak RSS is its own ru_maxrss, read with os.wait4.
The baseline is the same work done by a bare DuckDB script (`read_json` into a table;
`COPY ... TO (FORMAT JSON)`), run in the same process type (this venv's Python with the same
duckdb) right after the prefer command.

The export store holds 1,000,000 pairs the build keeps plus planted pairs each filter must drop
(fill_export_store); after the run the manifest's kept and dropped counts are checked against
what was planted and the written rows against the baseline's. `prefer pairs` (build and filter
only) is timed on the same store. The near-duplicate benchmark (bench_neardup.py) times
core/similarity.py in this process against RapidFuzz alone. The generation benchmarks
(bench_generate.py) run `prefer generate` against stand-in Ollama servers
(tests/ollama_standin.py), each in a process of its own.

A full-size run rewrites the results section of each benchmark it ran in docs/benchmarks.md
(between that benchmark's markers, also with `--only`); a smaller run only prints. Before
anything is measured, the blank-text rule of the import SQL is checked against DuckDB's trim()
on every code point (see check_blank). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import bench_agreement
import bench_annotate
import bench_judge
import bench_neardup
import bench_saves
import bench_server
import bench_sources
import duckdb
from bench_generate import Sizes, bench_generate
from bench_generate import report as generate_report

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
EXPORT_START, EXPORT_END = "<!-- bench-export:start -->", "<!-- bench-export:end -->"
GEN_START, GEN_END = "<!-- bench-generate:start -->", "<!-- bench-generate:end -->"
NEARDUP_START, NEARDUP_END = "<!-- bench-neardup:start -->", "<!-- bench-neardup:end -->"
FULL = 1_000_000
DIMENSIONS = ["tone", "accuracy", "compliance", "disclosure", "safety"]
CANDIDATES_EVERY = 4  # one prompt row in 4 carries 3 candidate responses

# --- synthetic text ------------------------------------------------------------------------------


def corpus() -> str:
    """30,000 characters of seeded pseudo-words; texts are slices of it at hashed offsets.

    The slicing is done on ASCII (DuckDB's substr is fast there) and a few letter pairs are then
    turned into ä/ö/ß, so the files carry multi-byte UTF-8 as real German prompts would.
    """
    rng = random.Random(20240607)
    syllables = ["ka", "re", "to", "mi", "sa", "lu", "ne", "po", "di", "va", "ge", "ri", "ost",
                 "an", "el", "um", "ae", "oe", "ss", "en", "claim", "policy", "cover"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(600)]
    text = []
    while sum(len(w) + 1 for w in text) < 31_000:
        word = rng.choice(words)
        text.append(word + ("." if rng.random() < 0.08 else "," if rng.random() < 0.05 else ""))
    return " ".join(text)[:30_000]


def text_macros(con: duckdb.DuckDBPyConnection) -> None:
    """txt(i, k, lo, span): a slice of lo..lo+span-1 characters, chosen by hash(i, k)."""
    con.execute("SET VARIABLE bench_corpus = ?", [corpus()])
    con.execute(
        "CREATE OR REPLACE TEMP MACRO txt(i, k, lo, span) AS replace(replace(replace(substr("
        "getvariable('bench_corpus'), 1 + (hash(i, k) % 29000)::BIGINT, "
        "lo + (hash(i, k + 1) % span)::BIGINT), 'ae', 'ä'), 'oe', 'ö'), 'ss', 'ß')"
    )
    con.execute(
        "CREATE OR REPLACE TEMP MACRO sys_text(i) AS CASE WHEN i % 3 = 0 THEN "
        "'You are a careful assistant of an insurance company. ' || txt(i, 3, 80, 120) END"
    )
    con.execute("CREATE OR REPLACE TEMP MACRO prompt_text(i) AS "
                "'Question ' || i || ': ' || txt(i, 1, 150, 250)")
    con.execute("CREATE OR REPLACE TEMP MACRO answer_text(i, j) AS "
                "'Answer ' || j || ' to ' || i || ': ' || txt(i, 3 + 2 * j, 300, 300)")
    con.execute(
        "CREATE OR REPLACE TEMP MACRO dim_of(i) AS CASE WHEN i % 2 = 0 THEN "
        f"{DIMENSIONS!r}[1 + i % 5] END"
    )
    con.execute("CREATE OR REPLACE TEMP MACRO lang_of(i) AS CASE WHEN i % 4 = 0 THEN "
                "['en', 'de', 'pt-BR'][1 + i % 3] END")


def write_prompt_file(path: Path, rows: int) -> None:
    """JSONL: every row has id and prompt; some system, dimension, language; 1 in 4 candidates.

    Keys that are absent are left out (not written as null), as a hand-made export would.
    """
    con = duckdb.connect()
    text_macros(con)
    target = str(path).replace("'", "''")
    con.execute(
        f"""
        COPY (
          SELECT '{{"id":"q' || i || '","prompt":' || to_json(prompt_text(i))
                 || coalesce(',"system":' || to_json(sys_text(i)), '')
                 || coalesce(',"dimension":' || to_json(dim_of(i)), '')
                 || coalesce(',"language":' || to_json(lang_of(i)), '')
                 || coalesce(',"candidates":' || to_json(CASE WHEN i % {CANDIDATES_EVERY} = 1 THEN
                      [answer_text(i, 1), answer_text(i, 2), answer_text(i, 3)] END), '')
                 || '}}'
          FROM range({rows}) t(i) ORDER BY i
        ) TO '{target}' (FORMAT CSV, HEADER false, QUOTE '', ESCAPE '', DELIM '\x01')
        """
    )
    con.close()


def candidate_rows(rows: int) -> int:
    return 3 * sum(1 for _ in range(1, rows, CANDIDATES_EVERY))


# Planted problems of the export benchmark: each is a 2-candidate item whose one pair one filter
# drops (candidate 2 carries the problem); duplicates and contradictions are pairs of items.
FILTER_KINDS = ("empty", "encoding", "truncated", "near_identical", "language_mismatch")
ITEM_KINDS = (*FILTER_KINDS, "dup_first", "dup_second", "contra_first", "contra_second")


def planted_per_kind(pairs: int) -> int:
    """Pairs each filter drops (contradictions: twice as many), about 0.25% of `pairs` each."""
    return max(2, pairs // 400)


def planted_drops(pairs: int) -> dict[str, int]:
    """What `counts.dropped_pairs` of the manifest must say: pairs per filter (PAIR_FILTERS)."""
    d = planted_per_kind(pairs)
    return {**{kind: d for kind in FILTER_KINDS}, "duplicate": d, "contradiction": 2 * d}


def export_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The export store's texts; candidates end like sentences and never resemble each other.

    Candidate j of text index t is 'Answer j to t: ' and a slice of 300-599 corpus characters
    ending in '.': the three slices of an item start 10,000 characters apart, so no two of them
    overlap (near-identical pairs are only the planted ones). Prompts (170-470 characters) are
    'Question t: ', 8 hashed words, a slice, 8 more words and '?', so no two are
    near-duplicates by accident (only the planted ones). Languages are given ('de', 1 in 5
    'en') for every prompt and candidate, so no language is detected during the measured run.
    """
    text_macros(con)
    con.execute("CREATE OR REPLACE TEMP MACRO slice_of(t, s) AS replace(replace(replace(substr("
                "getvariable('bench_corpus'), 1 + (hash(t, 5) % 9000)::BIGINT + (s - 1) * 10000, "
                "300 + (hash(t, 5 + s) % 300)::BIGINT), 'ae', 'ä'), 'oe', 'ö'), 'ss', 'ß')")
    con.execute("CREATE OR REPLACE TEMP MACRO reply(t, j, s) AS "
                "'Answer ' || j || ' to ' || t || ': ' || slice_of(t, s) || '.'")
    # A slice of 60-259 characters between two runs of 8 words drawn by string hashes: one
    # slice of 150-400 characters (as the import's prompt_text) would make most of 355,000
    # prompts near-duplicates of the ~12 others ending at the same corpus position (similar
    # read backwards, as the grouping reads), and slices by integer hashes come in correlated
    # pairs (hash(a, k) close to hash(b, k) makes hash(a, j) close to hash(b, j)).
    con.execute("SET VARIABLE bench_words = list_sort(list_distinct(string_split("
                "getvariable('bench_corpus'), ' ')))")
    con.execute("CREATE OR REPLACE TEMP MACRO words8(t, k) AS array_to_string(list_transform("
                "range(8), lambda x: getvariable('bench_words')[1 + (hash(k || ':' || t || ':' "
                "|| x) % len(getvariable('bench_words')))::BIGINT]), ' ')")
    con.execute("CREATE OR REPLACE TEMP MACRO export_prompt(t) AS "
                "'Question ' || t || ': ' || words8(t, 'a') || ' ' || txt(t, 1, 60, 200) || ' ' "
                "|| words8(t, 'b') || '?'")
    con.execute("CREATE OR REPLACE TEMP MACRO lang_given(t) AS "
                "CASE WHEN t % 5 = 0 THEN 'en' ELSE 'de' END")
    con.execute("CREATE OR REPLACE TEMP MACRO lang_other(t) AS "
                "CASE WHEN t % 5 = 0 THEN 'de' ELSE 'en' END")
    con.execute("CREATE OR REPLACE TEMP MACRO pid(i) AS 'p_' || left(sha256('bench:' || i), 16)")
    con.execute("CREATE OR REPLACE TEMP MACRO cid(i, j) AS "
                "'c_' || left(sha256('bench:' || i || ':' || j), 16)")
    con.execute("CREATE OR REPLACE TEMP MACRO jid(i, who) AS 'j_' || md5(who || ':' || i)")


_JUDGMENT_COLUMNS = ("judgment_id, annotator, prompt_id, kind, best_candidate_id, "
                     "worst_candidate_id, ranking, dimensions, justification, shown_order, "
                     "guideline_version, seconds_spent, supersedes, created_at")


def fill_export_store(db: Path, base_db: Path, pairs: int) -> tuple[int, int]:
    """A store whose build keeps exactly `pairs` pairs and drops planted_drops(pairs); and the
    baseline's table of the very same kept rows. Returns (items, judgments).

    Normal items: ranked judgments over 3 candidates give 3 pairs each (best > middle,
    best > worst, middle > worst), over 2 one; 1 item in 20 also has an older, superseded
    judgment with another decision and 1 in 10 a second annotator who agrees (work for the
    decision step that changes no pair). Planted items (2 candidates, 1 pair each, see
    ITEM_KINDS): candidate 2 blank (spaces, tab + newline, U+3000); with a BEL or U+FFFD; ending
    mid-sentence; differing from candidate 1 only in case (one character: a trivial pair); in
    the other language than its
    prompt. Duplicates: a second prompt id with the same prompt, system and candidate texts
    judged the same way (one pair dropped, one kept). Contradictions: a second prompt id with
    the same prompt text (every other one with a '!' appended: a near-duplicate, not an equal
    prompt), the same candidate texts, judged the opposite way (both pairs dropped).
    """
    d = planted_per_kind(pairs)
    threes, rest = divmod(pairs - d, 3)  # the kept duplicates make up the other d pairs
    normal = threes + rest
    con = duckdb.connect(str(db))
    export_macros(con)
    kinds = list(ITEM_KINDS)
    con.execute(
        f"""
        CREATE TEMP TABLE items AS
        SELECT i, i AS t, CASE WHEN i < {threes} THEN 3 ELSE 2 END AS k, 'normal' AS kind
        FROM range({normal}) r(i)
        UNION ALL
        SELECT {normal} + g * {d} + x,
               CASE WHEN g IN (6, 8) THEN {normal} + (g - 1) * {d} + x
                    ELSE {normal} + g * {d} + x END,
               2, {kinds!r}[g + 1]
        FROM range({len(kinds)}) a(g), range({d}) b(x)
        """
    )
    ts = "TIMESTAMP '2026-01-05 09:00:00'"
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "INSERT INTO prompts (prompt_id, prompt, system, dimension, language, language_source, "
        "source, source_line, imported_at) "
        "SELECT pid(i), export_prompt(t) || CASE WHEN kind = 'contra_second' AND i % 2 = 1 "
        "THEN '!' ELSE '' END, sys_text(t), dim_of(t), lang_given(t), 'given', 'bench.jsonl', "
        f"i + 1, {ts} FROM items"
    )
    con.execute(
        "INSERT INTO candidates (candidate_id, prompt_id, position, text, origin, source, "
        "created_at, language) "
        "SELECT cid(i, j), pid(i), j, CASE "
        "WHEN j = 2 AND kind = 'empty' THEN [' ', chr(9) || chr(10), chr(12288) || ' '][1 + i % 3] "
        "WHEN j = 2 AND kind = 'encoding' THEN 'Answer 2 to ' || t || ': ' "
        "     || CASE WHEN i % 2 = 0 THEN chr(7) ELSE chr(65533) END || slice_of(t, 2) || '.' "
        "WHEN j = 2 AND kind = 'truncated' THEN 'Answer 2 to ' || t || ': ' || slice_of(t, 2) "
        "     || ' and the policy covers' "
        "WHEN j = 2 AND kind = 'near_identical' THEN 'answer 1 to ' || t || ': ' "
        "     || slice_of(t, 1) || '.' "
        "ELSE reply(t, j, j) END, "
        f"'import', 'bench.jsonl', {ts}, "
        "CASE WHEN j = 2 AND kind = 'language_mismatch' THEN lang_other(t) ELSE lang_given(t) END "
        "FROM items, LATERAL (SELECT unnest(range(1, k + 1)) AS j)"
    )
    judgment = (
        f"INSERT INTO judgments ({_JUDGMENT_COLUMNS}) "
        "SELECT {jid}, {who}, pid(i), 'ranked', cid(i, {best}), cid(i, {worst}), NULL, "
        "CASE WHEN i % 4 = 0 AND dim_of(t) IS NOT NULL THEN [dim_of(t)] ELSE [] END::VARCHAR[], "
        "'Response ' || ({best}) || ' answers the question and cites the policy; the other '"
        " || 'one omits the exclusion.', "
        "list_transform(range(k), lambda x: cid(i, 1 + (x + i) % k)), 'g-0123456789ab', "
        "10.0 + i % 50, {supersedes}, TIMESTAMP '2026-01-06 09:00:00' + to_seconds(i + {late}) "
        "FROM items WHERE {where}"
    )
    best, worst = "1 + i % k", "1 + (i + 1) % k"
    con.execute(judgment.format(
        jid="jid(i, 'old')", who="'annotator-a'", best=worst, worst=best, supersedes="NULL",
        late="0", where="kind = 'normal' AND i % 20 = 0"))
    con.execute(judgment.format(
        jid="jid(i, 'a')", who="'annotator-a'", best=best, worst=worst,
        supersedes="CASE WHEN i % 20 = 0 THEN jid(i, 'old') END", late="3600",
        where="kind = 'normal'"))
    con.execute(judgment.format(
        jid="jid(i, 'b')", who="'annotator-b'", best=best, worst=worst, supersedes="NULL",
        late="7200", where="kind = 'normal' AND i % 10 = 5"))
    flip = "CASE WHEN kind = 'contra_second' THEN {} ELSE {} END"
    con.execute(judgment.format(
        jid="jid(i, 'a')", who="'annotator-a'", best=flip.format(2, 1), worst=flip.format(1, 2),
        supersedes="NULL", late="3600", where="kind <> 'normal'"))
    con.execute("COMMIT")
    n_judgments = int(con.execute("SELECT count(*) FROM judgments").fetchone()[0])
    items = int(con.execute("SELECT count(*) FROM items").fetchone()[0])

    # The baseline: the pairs the build must keep (by construction, not by asking prefer), with
    # the store's own texts, in the conversational shape prefer writes (1 prompt in 3 has a
    # system prompt): the COPY writes the same rows.
    con.execute(
        """
        CREATE TEMP TABLE expected AS
        WITH ranked AS (SELECT i, k, 1 + i % k AS b, 1 + (i + 1) % k AS w,
                               6 - (1 + i % k) - (1 + (i + 1) % k) AS m
                        FROM items WHERE kind = 'normal'),
        p AS (SELECT i, b AS c, w AS r FROM ranked
              UNION ALL SELECT i, b, m FROM ranked WHERE k = 3
              UNION ALL SELECT i, m, w FROM ranked WHERE k = 3
              UNION ALL SELECT i, 1, 2 FROM items WHERE kind = 'dup_first')
        SELECT pid(i) AS prompt_id, cid(i, c) AS chosen_id, cid(i, r) AS rejected_id FROM p
        """
    )
    con.execute(f"ATTACH '{str(base_db).replace(chr(39), chr(39) * 2)}' AS base")
    con.execute(
        """
        CREATE TABLE base.pairs AS
        SELECT CASE WHEN p.system IS NOT NULL
                    THEN [{'role': 'system', 'content': p.system},
                          {'role': 'user', 'content': p.prompt}]
                    ELSE [{'role': 'user', 'content': p.prompt}] END AS prompt,
               [{'role': 'assistant', 'content': c.text}] AS chosen,
               [{'role': 'assistant', 'content': r.text}] AS rejected
        FROM expected e JOIN prompts p USING (prompt_id)
        JOIN candidates c ON c.candidate_id = e.chosen_id
        JOIN candidates r ON r.candidate_id = e.rejected_id
        """
    )
    expected = int(con.execute("SELECT count(*) FROM base.pairs").fetchone()[0])
    check(expected == pairs, f"the baseline table holds {expected:,} pairs, expected {pairs:,}")
    con.execute("DETACH base")
    con.execute("CHECKPOINT")
    con.close()
    return items, n_judgments


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    peak_mib: float
    cpu_seconds: float  # user + system time of the child: less sensitive to a busy machine


# Spawns the measured command and reports its rusage. Linux counts the high-water RSS of the
# process that spawns a command into the command's own ru_maxrss (exec records the old memory
# map's peak, and with vfork that is the spawner's): spawned from this script, which has built
# stores of gigabytes in-process, every child's "peak" would be at least this script's. The
# launcher is a fresh, small process, so the floor is its own ~20 MiB.
_LAUNCHER = """\
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as out:
    json.dump({"seconds": seconds, "maxrss_kib": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime}, out)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
"""


def measure(cmd: list[str], log: Path, stdout_only: bool = False) -> Run:
    """Run `cmd` as a fresh grandchild (through _LAUNCHER): its wall time, its own peak RSS
    (ru_maxrss) and CPU time, read with os.wait4 by the launcher.

    The command's output goes to `log` (with `stdout_only`, stderr goes to `log`.err)."""
    err_log = log.with_suffix(log.suffix + ".err") if stdout_only else log
    usage_file = log.with_suffix(log.suffix + ".usage")
    with log.open("wb") as out, (err_log.open("wb") if stdout_only else out) as err:
        child = subprocess.run([sys.executable, "-c", _LAUNCHER, str(usage_file), *cmd],
                               stdout=out, stderr=err if stdout_only else subprocess.STDOUT,
                               cwd=log.parent, check=False)
    if child.returncode != 0:
        sys.exit(f"FAILED (exit {child.returncode}): {' '.join(cmd)}\n"
                 + log.read_text(errors="replace")[-3000:]
                 + (err_log.read_text(errors="replace")[-3000:] if stdout_only else ""))
    usage = json.loads(usage_file.read_text())
    return Run(usage["seconds"], usage["maxrss_kib"] / 1024, usage["cpu"])


def python_child(code: str, *args: Path) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def query_one(db: Path, sql: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def check_blank() -> None:
    """The SQL's blank test must say what `trim(x) = ''` says, for every code point and a few mixes.

    The import and export SQL test blank texts with a regex (core.store.imports.blank), not trim(),
    which is slow on long texts; this proves the two agree on the DuckDB in use.
    """
    sys.path.insert(0, str(REPO))
    from core.store.imports import blank

    con = duckdb.connect()
    differ = con.execute(
        f"""
        WITH s AS (
            SELECT chr(cp::INTEGER) AS x FROM range(1, 1114112) t(cp)
            WHERE cp NOT BETWEEN 55296 AND 57343
            UNION ALL SELECT unnest(['', ' ', '  a ', chr(160) || chr(12288) || chr(8239),
                                     chr(9) || chr(10), ' ' || chr(9), 'a', chr(8203), chr(65279)])
        )
        SELECT count(*) FROM s WHERE (trim(x) = '') IS DISTINCT FROM {blank('x')}
        """
    ).fetchone()[0]
    con.close()
    check(differ == 0, f"the blank-text regex and trim() disagree on {differ} strings with duckdb "
                       f"{duckdb.__version__}: fix core.store.imports.blank / exporting._blank")


def check(ok: bool, message: str) -> None:
    if not ok:
        sys.exit(f"BENCH FAILED: {message}")


def mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.0f} MiB"


def prefer_bin() -> str:
    beside = Path(sys.executable).parent / "prefer"
    found = str(beside) if beside.exists() else shutil.which("prefer")
    if not found:
        sys.exit("cannot find the `prefer` command: run from the project's venv (make bench)")
    return found


# --- the benchmarks ------------------------------------------------------------------------------


def bench_import(work: Path, prefer: str, rows: int) -> dict:
    source = work / "prompts.jsonl"
    t0 = time.perf_counter()
    write_prompt_file(source, rows)
    size = source.stat().st_size
    print(f"  generated {source.name}: {rows:,} rows, {mib(size)} "
          f"({time.perf_counter() - t0:.1f} s, not measured)", flush=True)
    project = work / "import-project"
    subprocess.run([prefer, "init", str(project)], check=True, capture_output=True)

    ours = measure([prefer, "import", str(source), "-p", str(project)], work / "import.log")
    print(f"  prefer import:   {ours.seconds:7.1f} s  {ours.peak_mib:7.0f} MiB  "
          f"(CPU {ours.cpu_seconds:.1f} s)", flush=True)
    db = project / "prefer.duckdb"
    stored = query_one(db, "SELECT count(*) FROM prompts")
    check(stored == rows, f"prefer import stored {stored:,} prompts, expected {rows:,}")
    cands = query_one(db, "SELECT count(*) FROM candidates")
    check(cands == candidate_rows(rows),
          f"prefer import stored {cands:,} candidates, expected {candidate_rows(rows):,}")
    db_size = db.stat().st_size

    base_db = work / "import-baseline.duckdb"
    base = measure(python_child(
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('CREATE TABLE t AS SELECT * FROM read_json(?)', [sys.argv[2]])\n"
        "con.close()\n",
        base_db, source), work / "import-baseline.log")
    print(f"  duckdb read_json:{base.seconds:7.1f} s  {base.peak_mib:7.0f} MiB  "
          f"(CPU {base.cpu_seconds:.1f} s)", flush=True)
    got = query_one(base_db, "SELECT count(*) FROM t")
    check(got == rows, f"baseline import stored {got:,} rows, expected {rows:,}")
    detail = (f"JSONL of {mib(size)}; every row has id and prompt (150-400 chars), 1 in 3 a system "
              f"prompt, 1 in 2 a dimension, 1 in 4 a language, 1 in {CANDIDATES_EVERY} three "
              f"candidates of 300-600 chars ({candidate_rows(rows):,} candidates); the project "
              f"file after import is {mib(db_size)}")
    source.unlink()
    shutil.rmtree(project)
    base_db.unlink()
    return {"task": f"import {rows:,} prompt rows", "ours": ours, "base": base, "detail": detail}


def line_fingerprint(*paths: Path) -> tuple[int, int]:
    """(lines, sum of their 64-bit BLAKE2b hashes mod 2**64): equal for the same multiset of lines
    in any order, so two files with the same rows in another order have the same fingerprint."""
    lines, total = 0, 0
    for path in paths:
        with path.open("rb") as handle:
            for line in handle:
                lines += 1
                total += int.from_bytes(hashlib.blake2b(line, digest_size=8).digest(), "little")
    return lines, total % 2**64


def bench_export(work: Path, prefer: str, pairs: int) -> dict:
    project = work / "export-project"
    subprocess.run([prefer, "init", str(project)], check=True, capture_output=True)
    t0 = time.perf_counter()
    base_db = work / "export-baseline.duckdb"
    items, judgments = fill_export_store(project / "prefer.duckdb", base_db, pairs)
    planted = planted_drops(pairs)
    built = pairs + sum(planted.values())
    print(f"  prepared a store with {items:,} ranked items ({judgments:,} judgments; {built:,} "
          f"pairs to build, {sum(planted.values()):,} of them planted for the filters) and the "
          f"baseline table ({time.perf_counter() - t0:.1f} s, not measured)", flush=True)

    out = work / "export-out"
    ours = measure([prefer, "export", "--format", "trl", "--out", str(out), "-p", str(project)],
                   work / "export.log")
    print(f"  prefer export:   {ours.seconds:7.1f} s  {ours.peak_mib:7.0f} MiB  "
          f"(CPU {ours.cpu_seconds:.1f} s)", flush=True)
    files = [out / "train.jsonl", out / "val.jsonl"]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    counts = manifest["counts"]
    kept = sum(counts["pairs"].values())
    written, ours_print = line_fingerprint(*files)
    check(kept == pairs, f"the manifest counts {kept:,} kept pairs, expected {pairs:,}")
    check(written == kept, f"prefer export wrote {written:,} rows, the manifest counts {kept:,}")
    check(counts["dropped_pairs"] == planted,
          f"dropped pairs {counts['dropped_pairs']}, planted {planted}")
    check(counts["pairs_built"] == built, f"{counts['pairs_built']:,} pairs built, expected "
                                          f"{built:,}")
    check(manifest["row_format"] == "trl-conversational", "expected conversational rows")
    ours_bytes = sum(f.stat().st_size for f in files)
    compared = query_one(project / "prefer.duckdb", "SELECT count(similarity) FROM pairs")
    # The planted duplicate and contradicting prompts (2 x d pairs of prompt ids) and no others
    # must form the near-duplicate groups.
    grouped = query_one(project / "prefer.duckdb", "SELECT count(*) FROM (SELECT prompt_group "
                        "FROM pairs GROUP BY 1 HAVING count(DISTINCT prompt_id) = 2)")
    lone = query_one(project / "prefer.duckdb", "SELECT count(*) FROM (SELECT prompt_group "
                     "FROM pairs GROUP BY 1 HAVING count(DISTINCT prompt_id) > 2)")
    d = planted_per_kind(pairs)
    check(grouped == 2 * d and lone == 0, f"{grouped:,} near-duplicate prompt groups of 2 and "
                                          f"{lone:,} larger ones, expected {2 * d:,} of 2")

    target = work / "export-baseline.jsonl"
    base = measure(python_child(
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "target = sys.argv[2].replace(\"'\", \"''\")\n"
        "con.execute(f\"COPY (SELECT prompt, chosen, rejected FROM pairs) TO '{target}' "
        "(FORMAT JSON)\")\n"
        "con.close()\n",
        base_db, target), work / "export-baseline.log")
    print(f"  duckdb COPY:     {base.seconds:7.1f} s  {base.peak_mib:7.0f} MiB  "
          f"(CPU {base.cpu_seconds:.1f} s)", flush=True)
    got, base_print = line_fingerprint(target)
    check(got == pairs, f"baseline export wrote {got:,} rows, expected {pairs:,}")
    base_bytes = target.stat().st_size
    # The same rows in another order: the same bytes and the same multiset of lines.
    check(ours_bytes == base_bytes,
          f"prefer wrote {ours_bytes:,} bytes, the baseline {base_bytes:,}: not the same rows")
    check(ours_print == base_print, "prefer and the baseline wrote different rows (same byte "
                                    "count, other line fingerprint)")
    shutil.rmtree(out)
    target.unlink()
    base_db.unlink()

    # `prefer pairs` alone on the same store: the build and the filters, no files.
    only = measure([prefer, "pairs", "--json", "-p", str(project)], work / "pairs.log",
                   stdout_only=True)
    print(f"  prefer pairs:    {only.seconds:7.1f} s  {only.peak_mib:7.0f} MiB  "
          f"(CPU {only.cpu_seconds:.1f} s)", flush=True)
    build = json.loads((work / "pairs.log").read_text(encoding="utf-8"))
    check(build["kept"] == pairs and build["dropped"] == planted,
          f"prefer pairs kept {build['kept']:,} and dropped {build['dropped']}")

    shares = ", ".join(f"{n:,} {name.replace('_', ' ')}" for name, n in planted.items())
    detail = (f"{items:,} ranked items ({judgments:,} judgments incl. superseded ones and a "
              f"second annotator), {built:,} pairs built: {pairs:,} kept and {shares} dropped, "
              f"each count checked against the manifest; {2 * d:,} near-duplicate prompt groups (the "
              f"planted ones, checked); {compared:,} pairs close enough in "
              f"length went through the near-identical check; TRL conversational rows, "
              f"{mib(ours_bytes)} written (train.jsonl + val.jsonl), the same rows as the "
              f"baseline's (byte count and an order-free fingerprint of the lines)")
    shutil.rmtree(project)
    return {"task": f"export {pairs:,} kept pairs (build + filter + write)", "ours": ours,
            "base": base, "pairs_only": only, "detail": detail}


# --- report --------------------------------------------------------------------------------------


def machine() -> str:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{cpus} CPUs (nproc), {mem} RAM, {platform.system()} {platform.machine()}; "
            f"Python {platform.python_version()}, duckdb {duckdb.__version__}; "
            f"load average at start {load}")


def _row(task: str, ours: Run, base: Run | None) -> str:
    if base is None:
        return (f"| {task} | {ours.seconds:.1f} | | | {ours.peak_mib:,.0f} | | |")
    return (f"| {task} | {ours.seconds:.1f} | {base.seconds:.1f} | "
            f"{ours.seconds / base.seconds:.1f}x | {ours.peak_mib:,.0f} | {base.peak_mib:,.0f} | "
            f"{ours.peak_mib / base.peak_mib:.1f}x |")


def report(result: dict, started: dt.datetime, seconds: float, info: str) -> str:
    """The import's or the export's results section (a table, the run, what was measured)."""
    lines = [
        "| task | prefer (s) | baseline (s) | ratio | prefer peak RSS (MiB) "
        "| baseline peak RSS (MiB) | RSS ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row(result["task"], result["ours"], result["base"]),
    ]
    only = result.get("pairs_only")
    if only is not None:
        lines.append(_row("`prefer pairs` alone on the same store (build + filter, no files)",
                          only, None))
    lines.append("")
    lines.append(f"Run {started:%Y-%m-%d %H:%M} UTC on {info}; this benchmark took "
                 f"{seconds:.0f} s.")
    lines.append("")
    cpu = (f"CPU time (user + system) prefer {result['ours'].cpu_seconds:.1f} s, baseline "
           f"{result['base'].cpu_seconds:.1f} s")
    if only is not None:
        cpu += f", `prefer pairs` {only.cpu_seconds:.1f} s"
    lines.append(f"- {result['detail']}; {cpu}.")
    if only is None:
        lines.append("- baseline: `CREATE TABLE t AS SELECT * FROM read_json(FILE)` into a fresh "
                     "database file.")
    else:
        lines.append("- baseline: `COPY (SELECT prompt, chosen, rejected FROM pairs) TO FILE "
                     "(FORMAT JSON)` from a table holding the same kept rows, already in TRL's "
                     "conversational shape.")
    return "\n".join(lines)


def write_doc(section: str, start: str = START, end: str = END) -> None:
    text = DOC.read_text(encoding="utf-8")
    head, sep, rest = text.partition(start)
    _, sep2, tail = rest.partition(end)
    if not sep or not sep2:
        sys.exit(f"{DOC}: the markers {start} and {end} are missing; results not written")
    DOC.write_text(f"{head}{start}\n{section}\n{end}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=FULL,
                        help="prompt rows to import, kept pairs to export and pairs for the "
                             "near-duplicate check (default 1,000,000); only a full run writes "
                             "docs/benchmarks.md")
    parser.add_argument("--only", choices=["import", "export", "neardup", "generate", "server",
                                           "saves", "agreement", "judge", "sources",
                                           "annotate"],
                        help="run one benchmark only (a full-size run still writes its section)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only, even after a full run")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the temporary files go (default: the system's temp folder); "
                             "a full run needs about 5 GB")
    args = parser.parse_args()
    if args.rows < 1000:
        parser.error("--rows must be at least 1000")

    prefer = prefer_bin()
    check_blank()
    info = machine()
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    print(f"prefer benchmarks, {args.rows:,} rows/pairs; {info}", flush=True)
    full = args.rows == FULL and not args.no_write
    sections: list[tuple[str, str, str, str]] = []  # (name, text, start marker, end marker)

    def timed(name: str, fn, *fn_args):
        print(f"{name}:", flush=True)
        t_start = time.perf_counter()
        result = fn(*fn_args)
        return result, time.perf_counter() - t_start

    with tempfile.TemporaryDirectory(prefix="prefer-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        if args.only in (None, "import"):
            result, seconds = timed("import", bench_import, work, prefer, args.rows)
            sections.append(("import", report(result, started, seconds, info), START, END))
        if args.only in (None, "sources"):
            result, seconds = timed("sources", bench_sources.run, work, prefer, args.rows,
                                    measure, python_child, query_one, check, mib)
            sections.append(("sources", report(result, started, seconds, info),
                             "<!-- bench-sources:start -->", "<!-- bench-sources:end -->"))
        if args.only in (None, "export"):
            result, seconds = timed("export", bench_export, work, prefer, args.rows)
            sections.append(("export", report(result, started, seconds, info),
                             EXPORT_START, EXPORT_END))
        if args.only in (None, "neardup"):
            prompts = 300_000 if args.rows == FULL else max(1000, args.rows * 3 // 10)
            result, seconds = timed("neardup", bench_neardup.run, args.rows, prompts)
            sections.append(("near-duplicate", bench_neardup.markdown(result)
                             + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}; took "
                             f"{seconds:.0f} s.", NEARDUP_START, NEARDUP_END))
        if args.only in (None, "generate"):
            generated, seconds = timed("generate", bench_generate, work, prefer,
                                       Sizes() if args.rows == FULL else Sizes.smoke())
            sections.append(("generation", generate_report(generated)
                             + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}; the generation "
                             f"benchmarks took {seconds:.0f} s.", GEN_START, GEN_END))
        if args.only in (None, "judge"):
            judged, seconds = timed("judge", bench_judge.bench_judge, work, prefer,
                                    bench_judge.JudgeSizes() if args.rows == FULL
                                    else bench_judge.JudgeSizes.smoke())
            sections.append(("judge", bench_judge.report(judged)
                             + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}; took "
                             f"{seconds:.0f} s.", "<!-- bench-judge:start -->",
                             "<!-- bench-judge:end -->"))
        if args.only in (None, "server"):
            per = 100 if args.rows == FULL else 10
            server_results, seconds = timed("server", bench_server.run, 20, per)
            sections.append(("server", bench_server.markdown(server_results, 20, per)
                             + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}; took "
                             f"{seconds:.0f} s.", "<!-- bench-server:start -->",
                             "<!-- bench-server:end -->"))
        if args.only in (None, "saves"):
            saves, seconds = timed("saves", bench_saves.run, max(args.rows, 20_000), None,
                                   args.workdir)
            sections.append(("saves", bench_saves.markdown(saves)
                             + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}; took "
                             f"{seconds:.0f} s.", "<!-- bench-saves:start -->",
                             "<!-- bench-saves:end -->"))
        if args.only in (None, "agreement"):
            agreed, _ = timed("agreement", bench_agreement.run,
                              25_000 if args.rows == FULL else 500)
            sections.append(("agreement",
                             f"| task | seconds | |\n|---|---:|---|\n| agreement over "
                             f"{agreed['judgments']:,} judgments from 5 annotators, 2,000 "
                             f"bootstrap resamples (`prefer agreement --json`, whole command) | "
                             f"{agreed['seconds']:.1f} | aim: under 10 s |\n\nRun "
                             f"{started:%Y-%m-%d %H:%M} UTC on {info}.",
                             "<!-- bench-agreement:start -->", "<!-- bench-agreement:end -->"))
        if args.only in (None, "annotate"):
            # 1,000 and 100,000 prompts in a full run, 1,000 and 5,000 (--quick) otherwise
            annotated, seconds = timed("annotate", bench_annotate.run, args.rows != FULL,
                                       args.workdir and args.workdir / "annotate")
            sections.append(("annotate", bench_annotate.markdown(annotated)
                             + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}; took "
                             f"{seconds:.0f} s.", "<!-- bench-annotate:start -->",
                             "<!-- bench-annotate:end -->"))
    print(f"\nwhole bench {time.perf_counter() - t0:.0f} s")
    for name, text, start, end in sections:
        print(f"\n## {name}\n\n{text}")
        if full:
            write_doc(text, start, end)
            print(f"\n(wrote the {name} results into {DOC.relative_to(REPO)})")
    if not full:
        print(f"\n(not a full run: {DOC.relative_to(REPO)} left as it is)")


if __name__ == "__main__":
    main()
