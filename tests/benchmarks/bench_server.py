"""Benchmark: 20 simulated annotators against `prefer serve` vs the same work embedded.

Each simulated annotator does what the TUI does per item: save a judgment and load the next
item (next_prompt_id + get_item + progress). We report judgments per second over all annotators
and the p50/p99 latency of one save-and-load-next, through the server (20 client processes,
each its own connection) and in embedded mode (one process, the same calls on a LocalStore,
20 threads), in the same run.

    .venv/bin/python tests/benchmarks/bench_server.py [--annotators 20] [--items 100]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from core.models import Judgment  # noqa: E402
from core.project import init_project  # noqa: E402
from core.sources import import_file  # noqa: E402
from core.store import open_store  # noqa: E402
from tests.benchmarks.percentiles import nearest_rank  # noqa: E402

PREFER = str(Path(sys.executable).parent / "prefer")

CLIENT = textwrap.dedent("""
    import json, sys, time, uuid
    from pathlib import Path
    from core.models import Judgment
    from core.store.remote import RemoteStore
    socket_path, me, go_at = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    store = RemoteStore(socket_path, act_as=me)
    prompt_id = store.next_prompt_id(me)
    item = store.get_item(prompt_id)
    while time.time() < go_at:
        time.sleep(0.001)
    latencies = []
    while item is not None:
        began = time.perf_counter()
        shown = tuple(c.candidate_id for c in item.candidates)
        store.save_judgment(Judgment("j_" + uuid.uuid4().hex, me, item.prompt.prompt_id,
                                     "ranked", shown, best_candidate_id=shown[0],
                                     worst_candidate_id=shown[-1],
                                     justification="A sentence of justification."))
        prompt_id = store.next_prompt_id(me)
        item = store.get_item(prompt_id) if prompt_id else None
        store.progress(me)
        latencies.append(time.perf_counter() - began)
    print(json.dumps(latencies))
""")


def _project(folder: Path, items: int) -> Path:
    project = init_project(folder)
    rows = [{"id": f"b{i:05d}", "prompt": f"Benchmark question {i}: can I change my tariff?",
             "candidates": [f"Answer {j} to question {i}, with some words." for j in range(4)]}
            for i in range(items)]
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with open_store(project.database_path) as store:
        import_file(store, path, actor="bench")
    return project.root


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"judgments": len(ordered), "seconds": seconds,
            "per_second": len(ordered) / seconds,
            "p50_ms": statistics.median(ordered) * 1000,
            "p99_ms": nearest_rank(ordered, 0.99) * 1000}


def through_server(root: Path, annotators: int) -> dict[str, float]:
    server = subprocess.Popen([PREFER, "serve", "-p", str(root)], stderr=subprocess.PIPE,
                              text=True)
    assert server.stderr is not None and "Serving" in server.stderr.readline()
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    go_at = time.time() + 3.0  # every client connected and warmed up before the clock starts
    clients = [subprocess.Popen([sys.executable, "-c", CLIENT, str(root / "prefer.sock"),
                                 f"ann{i}", str(go_at)], env=env, stdout=subprocess.PIPE,
                                text=True) for i in range(annotators)]
    latencies: list[float] = []
    for client in clients:
        out, _ = client.communicate(timeout=600)
        assert client.returncode == 0, "a client failed"
        latencies.extend(json.loads(out))
    seconds = time.time() - go_at
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    return _summary(latencies, seconds)


def embedded(root: Path, annotators: int) -> dict[str, float]:
    store = open_store(root / "prefer.duckdb")
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(annotators + 1)

    def annotate(me: str) -> None:
        mine: list[float] = []
        prompt_id = store.next_prompt_id(me)
        item = store.get_item(prompt_id) if prompt_id else None
        start.wait()
        while item is not None:
            began = time.perf_counter()
            shown = tuple(c.candidate_id for c in item.candidates)
            store.save_judgment(Judgment("j_" + uuid.uuid4().hex, me, item.prompt.prompt_id,
                                         "ranked", shown, best_candidate_id=shown[0],
                                         worst_candidate_id=shown[-1],
                                         justification="A sentence of justification."))
            prompt_id = store.next_prompt_id(me)
            item = store.get_item(prompt_id) if prompt_id else None
            store.progress(me)
            mine.append(time.perf_counter() - began)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=annotate, args=(f"ann{i}",)) for i in range(annotators)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    store.close()
    return _summary(latencies, seconds)


def run(annotators: int = 20, items: int = 100) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="prefer-bench-server-") as folder:
        served = through_server(_project(Path(folder) / "served", items), annotators)
        local = embedded(_project(Path(folder) / "embedded", items), annotators)
        expected = annotators * items
        for name, result in (("server", served), ("embedded", local)):
            if result["judgments"] != expected:
                raise SystemExit(f"BENCH FAILED: {name} stored {result['judgments']} "
                                 f"judgments, expected {expected}")
    return {"server": served, "embedded": local}


def markdown(results: dict[str, dict[str, float]], annotators: int, items: int) -> str:
    served, local = results["server"], results["embedded"]
    rows = [f"{annotators} annotators x {items} items each, save + load next item + progress:",
            "",
            "| mode | judgments/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|"]
    for name, r in (("prefer serve (Unix socket, one process per annotator)", served),
                    ("embedded (one process, one thread per annotator)", local)):
        rows.append(f"| {name} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
    rows.append("")
    rows.append(f"Server throughput is {served['per_second'] / local['per_second']:.2f}x the "
                f"embedded throughput.")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--items", type=int, default=100)
    args = parser.parse_args()
    print(markdown(run(args.annotators, args.items), args.annotators, args.items))


if __name__ == "__main__":
    main()
