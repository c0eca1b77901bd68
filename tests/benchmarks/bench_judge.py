"""Judge benchmark: `prefer judge` against a bare client loop over the very same requests.

    .venv/bin/python tests/benchmarks/run.py --only judge     # rewrites its section of the docs
    .venv/bin/python tests/benchmarks/bench_judge.py [--smoke] # standalone, print only

Throughput in requests per second (each item is two requests, one per display order) through
`prefer judge` (a child process as a user runs it, including the schema check of every reply,
combining the two orders and the store writes; the rate is over the run's own recorded span,
`judge_runs.started_at` to `finished_at`) against a bare asyncio loop of
`ollama.AsyncClient.chat(..., format=schema, stream=False)` sending the same messages, schemas
and options at the same concurrency to the same stand-in server (latency 0, its own process,
pinned to its own CPU). Aim: at least 0.8 of the bare loop. Runs alternate, the best of each
counts. After each run the store must hold one `ok` verdict per item, else the bench stops.
Reuses bench_generate's server process, CPU placement and child-process timing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
from bench_generate import MODEL, Measured, Server, _child, placement

REPO = Path(__file__).resolve().parents[2]


@dataclass
class JudgeSizes:
    items: int = 600
    concurrency: int = 4
    repeats: int = 2

    @classmethod
    def smoke(cls) -> JudgeSizes:
        return cls(items=60, repeats=1)


def make_project(work: Path, prefer: str, items: int) -> Path:
    """A fresh project of `items` prompts with three candidates each (about 80-250 characters)."""
    project = work / "judge-template"
    subprocess.run([prefer, "init", str(project)], check=True, capture_output=True)
    words = ("claim", "policy", "cover", "refund", "deductible", "storm", "damage", "premium",
             "contract", "notice", "period", "Kündigung", "Schaden", "Versicherung", "Frist")
    source = work / "judge-items.jsonl"
    with source.open("w", encoding="utf-8") as out:
        for i in range(items):
            def text(seed: int, length: int) -> str:
                return " ".join(words[(seed * 31 + k * 17) % len(words)] for k in range(length))
            out.write(json.dumps({
                "id": f"judge-{i:06d}", "prompt": f"Question {i}: {text(i, 20)}?",
                "candidates": [f"Answer {j} to {i}: {text(i * 7 + j, 12 + 8 * j)}."
                               for j in range(3)]}, ensure_ascii=False) + "\n")
    subprocess.run([prefer, "import", str(source), "-p", str(project)], check=True,
                   capture_output=True)
    return project


def planned_requests(project: Path) -> list[dict]:
    """The exact requests `prefer judge` sends (messages, schema, options)."""
    sys.path.insert(0, str(REPO))
    from core.judge import plan_judging
    from core.project import open_project
    from core.store import open_store

    proj = open_project(project)
    with open_store(proj.database_path, read_only=True) as store:
        plan = plan_judging(store, proj.config, proj.guidelines_text(), proj.guideline_version(),
                            model=MODEL)
    return [{"messages": r.messages(), "format": r.schema, "options": r.options}
            for r in plan.requests]


BARE_LOOP = r"""
import asyncio, json, sys, time
import ollama

host, concurrency, path, model = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
requests = json.loads(open(path, encoding="utf-8").read())

async def main():
    queue = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    ok = 0

    async def task():
        nonlocal ok
        client = ollama.AsyncClient(host=host)
        while not queue.empty():
            r = queue.get_nowait()
            reply = await client.chat(model=model, messages=r["messages"], format=r["format"],
                                      options=r["options"], stream=False)
            ok += bool(reply.message.content)

    await asyncio.gather(*(task() for _ in range(concurrency)))
    return ok

start = time.perf_counter()
ok = asyncio.run(main())
print(json.dumps({"ok": ok, "seconds": time.perf_counter() - start}))
"""


def run_bare(url: str, concurrency: int, requests_file: Path, cpus: set[int] | None,
             log: Path) -> Measured:
    count = len(json.loads(requests_file.read_text(encoding="utf-8")))
    wall, cpu = _child([sys.executable, "-c", BARE_LOOP, url, str(concurrency),
                        str(requests_file), MODEL], cpus, log)
    result = json.loads(log.read_text(encoding="utf-8").strip().splitlines()[-1])
    if result["ok"] != count:
        sys.exit(f"BENCH FAILED: the bare loop got {result['ok']} answers, expected {count}")
    return Measured(count, result["seconds"], wall, cpu)


def run_prefer(prefer: str, project: Path, url: str, concurrency: int, items: int,
               cpus: set[int] | None, log: Path) -> Measured:
    wall, cpu = _child([prefer, "judge", "-p", str(project), "--host", url, "--concurrency",
                        str(concurrency), "--quiet", "--model", MODEL], cpus, log)
    con = duckdb.connect(str(project / "prefer.duckdb"), read_only=True)
    try:
        run_id, started, finished = con.execute(
            "SELECT judge_run_id, started_at, finished_at FROM judge_runs "
            "ORDER BY started_at DESC LIMIT 1").fetchone()
        verdicts, requests = con.execute(
            "SELECT (SELECT count(*) FROM judge_verdicts WHERE judge_run_id = $1 "
            "        AND status = 'ok'), "
            "(SELECT count(*) FROM judge_requests WHERE judge_run_id = $1 AND status = 'ok')",
            [run_id]).fetchone()
    finally:
        con.close()
    if not (verdicts == items and requests == 2 * items):
        sys.exit(f"BENCH FAILED: prefer judge stored {verdicts} verdicts and {requests} "
                 f"requests, expected {items} and {2 * items}; see {log}")
    return Measured(2 * items, (finished - started).total_seconds(), wall, cpu)


def bench_judge(work: Path, prefer: str, sizes: JudgeSizes | None = None) -> dict:
    sizes = sizes or JudgeSizes()
    server_cpus, client_cpus, where = placement()
    print(f"  {where}", flush=True)
    template = make_project(work, prefer, sizes.items)
    copies = iter(range(1_000))

    def fresh() -> Path:
        target = work / f"judge-run-{next(copies)}"
        shutil.copytree(template, target)
        return target

    requests_file = work / "judge-requests.json"
    planned = planned_requests(template)
    requests_file.write_text(json.dumps(planned), encoding="utf-8")
    warm_file = work / "judge-warm.json"
    warm_file.write_text(json.dumps(planned[:50]), encoding="utf-8")
    bares: list[Measured] = []
    ours_runs: list[Measured] = []
    c = sizes.concurrency
    with Server(latency=0.0, parallel=c, cpus=server_cpus) as server:
        run_bare(server.url, c, warm_file, client_cpus, work / "judge-warm.log")  # not measured
        for i in range(sizes.repeats):
            bares.append(run_bare(server.url, c, requests_file, client_cpus,
                                  work / f"judge-bare-{i}.log"))
            ours_runs.append(run_prefer(prefer, fresh(), server.url, c, sizes.items,
                                        client_cpus, work / f"judge-ours-{i}.log"))
            print(f"  bare loop {bares[-1].rate:6.1f} req/s, prefer judge {ours_runs[-1].rate:6.1f}"
                  f" req/s ({2 * sizes.items:,} requests; CPU {bares[-1].cpu:.1f} s and "
                  f"{ours_runs[-1].cpu:.1f} s)", flush=True)
    return {"where": where, "sizes": sizes, "bares": bares, "ours_runs": ours_runs,
            "bare": max(bares, key=lambda m: m.rate), "ours": max(ours_runs, key=lambda m: m.rate)}


def report(r: dict) -> str:
    bare, ours, sizes = r["bare"], r["ours"], r["sizes"]
    ratio = ours.rate / bare.rate
    runs = ", ".join(f"{b.rate:.0f}/{o.rate:.0f}" for b, o in zip(r["bares"], r["ours_runs"],
                                                                   strict=True))
    return "\n".join([
        "| benchmark | measured | result | aim | aim met |", "|---|---|---:|---:|:---:|",
        f"| prefer judge / bare `AsyncClient.chat(format=schema)` loop, latency 0, concurrency "
        f"{sizes.concurrency}, {sizes.items:,} items ({2 * sizes.items:,} requests) | "
        f"{ours.rate:,.0f} vs {bare.rate:,.0f} requests per s | {ratio:.2f} | 0.80 | "
        f"{'yes' if ratio >= 0.8 else 'no'} |", "",
        f"- runs (bare/prefer per s, alternately, the best of each counts): {runs}. CPU time "
        f"(user + system) of the best runs' children: prefer judge {ours.cpu:.1f} s for the "
        f"whole command ({ours.wall:.1f} s wall incl. start, planning and pre-flight), bare loop "
        f"{bare.cpu:.1f} s ({bare.wall:.1f} s wall).",
        f"- placement: {r['where']}; the stand-in server in its own process."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="60 items only")
    args = parser.parse_args()
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from run import prefer_bin

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prefer-bench-judge-") as tmp:
        result = bench_judge(Path(tmp), prefer_bin(),
                             JudgeSizes.smoke() if args.smoke else None)
    print(f"\n({time.perf_counter() - t0:.0f} s)\n")
    print(report(result))


if __name__ == "__main__":
    main()
