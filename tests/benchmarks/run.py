"""Benchmarks of `prefer`: import and export against bare DuckDB, generation against a bare
Ollama client loop, all in the same run.

    .venv/bin/python tests/benchmarks/run.py              # full run: 1,000,000 rows and pairs
    .venv/bin/python tests/benchmarks/run.py --rows 20000 # quick smoke run (docs untouched)
    .venv/bin/python tests/benchmarks/run.py --only generate  # the generation benchmarks only

Each measured command runs in a fresh child process; its wall time is taken around the child and
its peak RSS is the child's own ru_maxrss, read with os.wait4. The baseline is the same work done
by a bare DuckDB script (`read_json` into a table; `COPY ... TO (FORMAT JSON)`), run in the same
process type (this venv's Python with the same duckdb) right after the prefer command.

The generation benchmarks (bench_generate.py) run `prefer generate` against stand-in Ollama
servers (tests/ollama_standin.py), each in a process of its own.

A full run rewrites the results sections of docs/benchmarks.md (between the bench markers; the
generation results between their own, also after `--only generate`); a smaller run only prints.
Before anything is measured, the blank-text rule of the import and export SQL is checked against
DuckDB's trim() on every code point (see check_blank). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
import bench_server
import duckdb
from bench_generate import Sizes, bench_generate
from bench_generate import report as generate_report

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "benchmarks.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
GEN_START, GEN_END = "<!-- bench-generate:start -->", "<!-- bench-generate:end -->"
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


def fill_export_store(db: Path, pairs: int) -> tuple[int, int]:
    """Prompts, candidates and ranked judgments giving exactly `pairs` pairs; (prompts, judgments).

    A judgment over 3 shown candidates gives 3 pairs (best > middle, best > worst, middle > worst),
    one over 2 gives 1: pairs // 3 items of 3 candidates plus pairs % 3 items of 2. Besides the
    current judgments, 1 item in 20 has an older, superseded judgment with another decision and
    1 in 10 a second annotator who agrees; neither changes the pairs.
    """
    threes, rest = divmod(pairs, 3)
    items = threes + rest
    con = duckdb.connect(str(db))
    text_macros(con)
    con.execute("CREATE OR REPLACE TEMP MACRO pid(i) AS 'p_' || left(sha256('bench:' || i), 16)")
    con.execute("CREATE OR REPLACE TEMP MACRO cid(i, j) AS "
                "'c_' || left(sha256('bench:' || i || ':' || j), 16)")
    con.execute("CREATE OR REPLACE TEMP MACRO jid(i, who) AS 'j_' || md5(who || ':' || i)")
    con.execute(f"CREATE TEMP TABLE items AS SELECT i, CASE WHEN i < {threes} THEN 3 ELSE 2 END "
                f"AS k FROM range({items}) t(i)")
    con.execute("BEGIN TRANSACTION")
    con.execute(
        "INSERT INTO prompts SELECT pid(i), prompt_text(i), sys_text(i), dim_of(i), lang_of(i), "
        "'bench.jsonl', i + 1, TIMESTAMP '2026-01-05 09:00:00' FROM items"
    )
    con.execute(
        "INSERT INTO candidates SELECT cid(i, j), pid(i), j, answer_text(i, j), 'import', "
        "'bench.jsonl', TIMESTAMP '2026-01-05 09:00:00' "
        "FROM items, LATERAL (SELECT unnest(range(1, k + 1)) AS j)"
    )
    judgment = (
        "SELECT {jid}, {who}, pid(i), 'ranked', cid(i, {best}), cid(i, {worst}), NULL, "
        "CASE WHEN i % 4 = 0 THEN [dim_of(i)] ELSE [] END::VARCHAR[], "
        "'Response ' || ({best}) || ' answers the question and cites the policy; the other '"
        " || 'one omits the exclusion.', "
        "list_transform(range(k), lambda x: cid(i, 1 + (x + i) % k)), 'g-0123456789ab', "
        "10.0 + i % 50, {supersedes}, TIMESTAMP '2026-01-06 09:00:00' + to_seconds(i + {late}) "
        "FROM items"
    )
    best, worst = "1 + i % k", "1 + (i + 1) % k"
    con.execute("INSERT INTO judgments " + judgment.format(
        jid="jid(i, 'old')", who="'annotator-a'", best=worst, worst=best, supersedes="NULL",
        late="0") + " WHERE i % 20 = 0")
    con.execute("INSERT INTO judgments " + judgment.format(
        jid="jid(i, 'a')", who="'annotator-a'", best=best, worst=worst,
        supersedes="CASE WHEN i % 20 = 0 THEN jid(i, 'old') END", late="3600"))
    con.execute("INSERT INTO judgments " + judgment.format(
        jid="jid(i, 'b')", who="'annotator-b'", best=best, worst=worst, supersedes="NULL",
        late="7200") + " WHERE i % 10 = 5")
    con.execute("COMMIT")
    n_judgments = con.execute("SELECT count(*) FROM judgments").fetchone()[0]
    con.execute("CHECKPOINT")
    con.close()
    return items, int(n_judgments)


def fill_export_baseline(db: Path, pairs: int) -> None:
    """A table of the same pair rows prefer will write, already in TRL's conversational shape.

    prefer writes conversational rows when any exported prompt has a system prompt (1 in 3
    here), so the baseline holds the same structs: the COPY writes the same bytes.
    """
    threes, rest = divmod(pairs, 3)
    con = duckdb.connect(str(db))
    text_macros(con)
    con.execute(
        f"""
        CREATE TABLE pairs AS
        WITH items AS (SELECT i, CASE WHEN i < {threes} THEN 3 ELSE 2 END AS k
                       FROM range({threes + rest}) t(i)),
        ranked AS (SELECT i, k, 1 + i % k AS b, 1 + (i + 1) % k AS w,
                          6 - (1 + i % k) - (1 + (i + 1) % k) AS m FROM items),
        p AS (SELECT i, b AS c, w AS r FROM ranked
              UNION ALL SELECT i, b, m FROM ranked WHERE k = 3
              UNION ALL SELECT i, m, w FROM ranked WHERE k = 3)
        SELECT CASE WHEN sys_text(i) IS NOT NULL
                    THEN [{{'role': 'system', 'content': sys_text(i)}},
                          {{'role': 'user', 'content': prompt_text(i)}}]
                    ELSE [{{'role': 'user', 'content': prompt_text(i)}}] END AS prompt,
               [{{'role': 'assistant', 'content': answer_text(i, c)}}] AS chosen,
               [{{'role': 'assistant', 'content': answer_text(i, r)}}] AS rejected
        FROM p
        """
    )
    con.execute("CHECKPOINT")
    con.close()


# --- measuring -----------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    peak_mib: float
    cpu_seconds: float  # user + system time of the child: less sensitive to a busy machine


def measure(cmd: list[str], log: Path) -> Run:
    """Run `cmd` as a fresh child; wall time and the child's own peak RSS (ru_maxrss, KiB)."""
    with log.open("wb") as out:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        sys.exit(f"FAILED (exit {child.returncode}): {' '.join(cmd)}\n"
                 + log.read_text(errors="replace")[-3000:])
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def python_child(code: str, *args: Path) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def count_lines(*paths: Path) -> int:
    total = 0
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda h=handle: h.read(1 << 22), b""):
                total += block.count(b"\n")
    return total


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


def bench_export(work: Path, prefer: str, pairs: int) -> dict:
    project = work / "export-project"
    subprocess.run([prefer, "init", str(project)], check=True, capture_output=True)
    t0 = time.perf_counter()
    items, judgments = fill_export_store(project / "prefer.duckdb", pairs)
    base_db = work / "export-baseline.duckdb"
    fill_export_baseline(base_db, pairs)
    print(f"  prepared a store with {items:,} ranked items ({judgments:,} judgments) and the "
          f"baseline table ({time.perf_counter() - t0:.1f} s, not measured)", flush=True)

    out = work / "export-out"
    ours = measure([prefer, "export", "--format", "trl", "--out", str(out), "-p", str(project)],
                   work / "export.log")
    print(f"  prefer export:   {ours.seconds:7.1f} s  {ours.peak_mib:7.0f} MiB  "
          f"(CPU {ours.cpu_seconds:.1f} s)", flush=True)
    files = [out / "train.jsonl", out / "val.jsonl"]
    written = count_lines(*files)
    check(written == pairs, f"prefer export wrote {written:,} rows, expected {pairs:,}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    check(sum(manifest["counts"]["pairs"].values()) == pairs, "manifest pair counts disagree")
    check(manifest["row_format"] == "trl-conversational", "expected conversational rows")
    ours_bytes = sum(f.stat().st_size for f in files)

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
    got = count_lines(target)
    check(got == pairs, f"baseline export wrote {got:,} rows, expected {pairs:,}")
    base_bytes = target.stat().st_size
    # Same rows in another order: the byte counts must agree, else the two did different work.
    check(abs(ours_bytes - base_bytes) <= 0.01 * base_bytes,
          f"prefer wrote {ours_bytes:,} bytes, the baseline {base_bytes:,}: not the same rows")
    detail = (f"{items:,} ranked items, 3 candidates each, from {judgments:,} judgments (incl. "
              f"superseded ones and a second annotator); TRL conversational rows, "
              f"{mib(ours_bytes)} written (train.jsonl + val.jsonl, {written:,} rows)")
    shutil.rmtree(project)
    shutil.rmtree(out)
    base_db.unlink()
    target.unlink()
    return {"task": f"export {pairs:,} pairs", "ours": ours, "base": base, "detail": detail}


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


def report(results: list[dict], started: dt.datetime, total: float, info: str) -> str:
    lines = [
        "| task | prefer (s) | baseline (s) | ratio | prefer peak RSS (MiB) "
        "| baseline peak RSS (MiB) | RSS ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        ours, base = r["ours"], r["base"]
        lines.append(
            f"| {r['task']} | {ours.seconds:.1f} | {base.seconds:.1f} | "
            f"{ours.seconds / base.seconds:.1f}x | {ours.peak_mib:,.0f} | {base.peak_mib:,.0f} | "
            f"{ours.peak_mib / base.peak_mib:.1f}x |"
        )
    lines.append("")
    lines.append(f"Run {started:%Y-%m-%d %H:%M} UTC on {info}; whole bench {total:.0f} s.")
    lines.append("")
    for r in results:
        lines.append(f"- {r['task']}: {r['detail']}; CPU time (user + system) prefer "
                     f"{r['ours'].cpu_seconds:.1f} s, baseline {r['base'].cpu_seconds:.1f} s.")
    lines.append("- baselines: `import` is `CREATE TABLE t AS SELECT * FROM read_json(FILE)` into a "
                 "fresh database file; `export` is `COPY (SELECT prompt, chosen, rejected FROM "
                 "pairs) TO FILE (FORMAT JSON)` from a table holding the same rows.")
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
                        help="prompt rows to import and pairs to export (default 1,000,000); "
                             "only a full run writes docs/benchmarks.md")
    parser.add_argument("--only", choices=["import", "export", "generate", "server", "agreement"],
                        help="run one benchmark only")
    parser.add_argument("--no-write", action="store_true",
                        help="print only, even after a full run")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where the temporary files go (default: the system's temp folder); "
                             "a full run needs about 4 GB")
    args = parser.parse_args()
    if args.rows < 10:
        parser.error("--rows must be at least 10")

    prefer = prefer_bin()
    check_blank()
    info = machine()
    started = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    print(f"prefer benchmarks, {args.rows:,} rows/pairs; {info}", flush=True)
    results = []
    generated = None
    with tempfile.TemporaryDirectory(prefix="prefer-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        if args.only in (None, "import"):
            print("import:", flush=True)
            results.append(bench_import(work, prefer, args.rows))
        if args.only in (None, "export"):
            print("export:", flush=True)
            results.append(bench_export(work, prefer, args.rows))
        if args.only in (None, "generate"):
            print("generate:", flush=True)
            t_gen = time.perf_counter()
            generated = bench_generate(work, prefer, Sizes() if args.rows == FULL else Sizes.smoke())
            gen_seconds = time.perf_counter() - t_gen
        if args.only in (None, "server"):
            print("server:", flush=True)
            t_srv = time.perf_counter()
            server_results = bench_server.run(20, 100 if args.rows == FULL else 10)
            server_section = (bench_server.markdown(server_results, 20,
                                                    100 if args.rows == FULL else 10)
                              + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}; took "
                              f"{time.perf_counter() - t_srv:.0f} s.")
        if args.only in (None, "agreement"):
            print("agreement:", flush=True)
            agreed = bench_agreement.run(25_000 if args.rows == FULL else 500)
            agreement_section = (
                f"| task | seconds | |\n|---|---:|---|\n| agreement over "
                f"{agreed['judgments']:,} judgments from 5 annotators, 2,000 bootstrap resamples "
                f"(`prefer agreement --json`, whole command) | {agreed['seconds']:.1f} | aim: "
                f"under 10 s |\n\nRun {started:%Y-%m-%d %H:%M} UTC on {info}.")
    total = time.perf_counter() - t0
    full = args.rows == FULL and not args.no_write
    for name, section_text in (("server", locals().get("server_section")),
                               ("agreement", locals().get("agreement_section"))):
        if section_text:
            print()
            print(section_text)
            if full:
                write_doc(section_text, f"<!-- bench-{name}:start -->", f"<!-- bench-{name}:end -->")
    if results:
        section = report(results, started, total, info)
        print()
        print(section)
        if full and args.only is None:
            write_doc(section)
            print(f"\nwrote the import/export results into {DOC.relative_to(REPO)}")
        else:
            print(f"\n(not a full run: {DOC.relative_to(REPO)} left as it is)")
    if generated is not None:
        gen_section = (generate_report(generated) + f"\n\nRun {started:%Y-%m-%d %H:%M} UTC on "
                       f"{info}; the generation benchmarks took {gen_seconds:.0f} s.")
        print()
        print(gen_section)
        if full:
            write_doc(gen_section, GEN_START, GEN_END)
            print(f"\nwrote the generation results into {DOC.relative_to(REPO)}")
        else:
            print(f"\n(not a full run: {DOC.relative_to(REPO)} left as it is)")


if __name__ == "__main__":
    main()
