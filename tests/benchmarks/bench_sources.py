"""Benchmark: `prefer import FILE --kind feedback` of a feedback log against DuckDB's bare
`read_json` of the same file, each in a fresh process (run.py's `measure`), in the same run.

The log is what an assistant's feedback export looks like: records of (conversation, prompt,
response, signal), 5 records per prompt on average, 1 in 10 prompts multi-turn, signals up,
down, regenerated and edited. After the import the stored counts are checked against what the
generator planted (prompts, candidates, implied preferences).
"""

from __future__ import annotations

import json
import random
import subprocess
from pathlib import Path
from typing import Any

_WORDS = ["account", "card", "transfer", "refund", "fee", "limit", "branch", "statement",
          "loan", "deposit", "interest", "policy", "claim", "contract", "notice", "advisor",
          "balance", "payment", "overdraft", "savings"]


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def write_feedback_file(path: Path, records: int, seed: int = 7) -> dict[str, int]:
    """Write `records` feedback records; the counts an import must store."""
    rng = random.Random(seed)
    prompts = max(1, records // 5)
    expected = {"prompts": 0, "candidates": 0, "preferences": 0, "multi_turn": 0}
    written = 0
    with path.open("w", encoding="utf-8") as out:
        for p in range(prompts):
            if written >= records:
                break
            question = f"Question {p}: {_sentence(rng, 12)}"
            row_base: dict[str, Any] = {"conversation_id": f"c{p}"}
            if p % 10 == 0:
                row_base["messages"] = [
                    {"role": "user", "content": f"Hello, case {p}."},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": question}]
                expected["multi_turn"] += 1
            else:
                row_base["prompt"] = question
            expected["prompts"] += 1
            # One thumbs-up answer and up to three thumbs-down answers (up beats every down),
            # then a regeneration, and an edit on 1 prompt in 4.
            count = min(5, records - written)
            answers = [f"Answer {p}.{k}: {_sentence(rng, 30)}" for k in range(count)]
            rows = []
            downs = max(0, min(count - 2, 3))
            if count >= 2:
                rows.append({**row_base, "response": answers[0], "signal": "up"})
                rows += [{**row_base, "response": answers[1 + k], "signal": "down"}
                         for k in range(downs)]
                expected["preferences"] += downs
                if downs == 0:
                    rows.append({**row_base, "response": answers[1], "signal": "up"})
            if count == 5:
                rows.append({**row_base, "response": answers[4], "signal": "edited",
                             "edited": answers[4] + " Edited by the user."})
                expected["preferences"] += 1
                expected["candidates"] += 1  # the edited text
            if count == 1:
                rows.append({**row_base, "response": answers[0], "signal": "up"})
            expected["candidates"] += len({r["response"] for r in rows})
            for k, row in enumerate(rows):
                row["timestamp"] = f"2026-03-01T10:{k:02d}:00Z"
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
            written += len(rows)
    expected["records"] = written
    return expected


def run(work: Path, prefer: str, records: int, measure: Any, python_child: Any,
        query_one: Any, check: Any, mib: Any) -> dict:
    source = work / "feedback.jsonl"
    expected = write_feedback_file(source, records)
    size = source.stat().st_size
    print(f"  generated {source.name}: {expected['records']:,} records, {mib(size)} "
          "(not measured)", flush=True)
    project = work / "sources-project"
    subprocess.run([prefer, "init", str(project)], check=True, capture_output=True)
    ours = measure([prefer, "import", str(source), "--kind", "feedback", "-p", str(project)],
                   work / "sources.log")
    print(f"  prefer import --kind feedback: {ours.seconds:7.1f} s  {ours.peak_mib:7.0f} MiB "
          f"(CPU {ours.cpu_seconds:.1f} s)", flush=True)
    db = project / "prefer.duckdb"
    for table, key in (("prompts", "prompts"), ("candidates", "candidates"),
                       ("source_preferences", "preferences")):
        got = query_one(db, f"SELECT count(*) FROM {table}")
        check(got == expected[key], f"stored {got:,} {table}, expected {expected[key]:,}")
    turns = query_one(db, "SELECT count(*) FROM prompts WHERE turns IS NOT NULL")
    check(turns == expected["multi_turn"], f"{turns:,} multi-turn prompts, expected "
                                           f"{expected['multi_turn']:,}")
    base_db = work / "sources-baseline.duckdb"
    base = measure(python_child(
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('CREATE TABLE t AS SELECT * FROM read_json(?)', [sys.argv[2]])\n"
        "con.close()\n", base_db, source), work / "sources-baseline.log")
    print(f"  duckdb read_json:              {base.seconds:7.1f} s  {base.peak_mib:7.0f} MiB "
          f"(CPU {base.cpu_seconds:.1f} s)", flush=True)
    got = query_one(base_db, "SELECT count(*) FROM t")
    check(got == expected["records"], f"baseline read {got:,} rows")
    detail = (f"JSONL of {mib(size)}: {expected['records']:,} records on {expected['prompts']:,} "
              f"prompts ({expected['multi_turn']:,} multi-turn), stored as "
              f"{expected['candidates']:,} candidates and {expected['preferences']:,} implied "
              "preferences (checked after the run)")
    source.unlink()
    return {"task": f"import {expected['records']:,} feedback records (`--kind feedback`)",
            "ours": ours, "base": base, "detail": detail}
