"""Benchmark: 20 annotators saving judgments through the store server, alone and while a pair
build of 1,000,000 pairs runs on the same server.

The store is the export benchmark's (run.py `fill_export_store`: 355,000 items, 404,875
judgments, a build keeps 1,000,000 pairs) plus one audit event per judgment (a valid chain), so
a save works against tables of a real project's size. The server is core.server.StoreServer over
a LocalStore, as `prefer serve` runs it, in a process of its own (a small wrapper that also
prints the store's write statistics when it stops). Each annotator is a process of its own with
its own RemoteStore connection (real Unix socket, JSON lines), saving judgments one after the
other as fast as the server answers (each waits for its answer: a client has one save in flight,
as the TUI has). Every judgment agrees with the item's existing one, so a build keeps exactly
the same pairs whenever it takes its snapshot, and the benchmark checks that.

Phases, one server, in this order:
  (a) saves alone for a fixed time: judgments/s over everyone, p50/p99 latency of one save;
  (b) saves while `build_pairs` runs (started by an admin client through the same server):
      p50/p99 of the saves that started during the build, judgments/s in that window, and the
      build's own time; the server reports how long the build held the write lock;
  (c) the build alone, with no saves: its time without competition for the two cores.
The baseline, in the same run: a bare DuckDB loop in a fresh process, 20 threads each
inserting one row into a copy of the judgments table and committing (BEGIN, INSERT, COMMIT),
for the same time as (a). Every saved judgment is counted in the store afterwards (each client's
acknowledged saves must all be there), and each build must keep exactly the planted 1,000,000.

    .venv/bin/python tests/benchmarks/bench_saves.py             # full size (~8 minutes)
    .venv/bin/python tests/benchmarks/bench_saves.py --quick     # 50,000 pairs, ~1 minute
    .venv/bin/python tests/benchmarks/bench_saves.py --keep DIR  # store prepared once in DIR
    .venv/bin/python tests/benchmarks/bench_saves.py --keep DIR --only-alone   # (a) only

`make bench` runs it through run.py (`--only saves`), which writes the results into
docs/benchmarks.md after a full-size run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402

from tests.benchmarks.percentiles import nearest_rank  # noqa: E402

FULL_PAIRS = 1_000_000
QUICK_PAIRS = 50_000
ANNOTATORS = 20

# The server: StoreServer over LocalStore as `prefer serve` (tui/commands/serve.py) runs it; on
# SIGTERM it drains, prints the store's write statistics as one JSON line and exits.
SERVER = """
import json, signal, sys, threading
from pathlib import Path
from core.server import StoreServer
from core.store import open_store
from tui.commands.serve import SWITCH_INTERVAL_S
root = Path(sys.argv[1])
store = open_store(root / "prefer.duckdb")
sys.setswitchinterval(SWITCH_INTERVAL_S)  # as `prefer serve`
# Every annotator client and the builder connect as the one OS user running the benchmark: above
# the server's per-user cap of connections (core/server.py), which is meant for real users.
server = StoreServer(root, store, max_per_user=64)
server.bind()
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
server.start_in_thread()
print("ready", flush=True)
while not stop.wait(0.2):
    pass
server.shutdown()
stats = store.write_stats() if hasattr(store, "write_stats") else {}
print(json.dumps(stats), flush=True)
store.close()
"""

# One annotator: one save to warm up, then its items one by one until they run out, the deadline
# passes or the stop file appears; writes [start (epoch s), latency (s)] per save after the first.
CLIENT = """
import json, sys, time
from pathlib import Path
from core.models import Judgment
from core.store.remote import RemoteStore
from core.store.validation import record_id
socket_path, me, tag, items_path, go_path, seconds, stop_path, out = sys.argv[1:9]
items = json.loads(Path(items_path).read_text())
store = RemoteStore(Path(socket_path), act_as=me)
def save(n, prompt_id, shown, best, worst):
    judgment = Judgment(f"j_{me}_{tag}_{n}", me, prompt_id, "ranked", tuple(shown),
                        best_candidate_id=best, worst_candidate_id=worst,
                        justification="Agrees with the first annotator: it cites the policy.")
    # stored under the key namespaced by the annotator (core/store/validation.py)
    assert store.save_judgment(judgment).judgment_id == record_id("j", me, judgment.judgment_id)
# Connected and warm before the clock starts: the first save after the server opened the store
# loads the judgments indexes from disk (seconds at this size), once.
save(0, *items.pop(0))
print("ready", flush=True)
go, stop = Path(go_path), Path(stop_path)
while not go.exists():
    time.sleep(0.005)
go_at = float(go.read_text())
deadline = go_at + float(seconds)
while time.time() < go_at:
    time.sleep(0.001)
rows = []
for n, item in enumerate(items, start=1):
    if time.time() >= deadline or stop.exists():
        break
    began, t0 = time.time(), time.perf_counter()
    save(n, *item)
    rows.append((began, time.perf_counter() - t0))
Path(out).write_text(json.dumps({"saves": rows, "warm_up": 1}))
"""

# An admin's `prefer pairs` through the server: the build runs in the server process.
BUILD = """
import json, sys, time
from pathlib import Path
from core.pairs import build_pairs
from core.project import open_project
from core.store.remote import RemoteStore
project = open_project(Path(sys.argv[1]))
store = RemoteStore(project.root / "prefer.sock")
began = time.time()
result = build_pairs(store, project.config, "bench")
print(json.dumps({"began": began, "ended": time.time(), "kept": result.kept,
                  "pairs_built": result.pairs_built, "dropped": result.dropped,
                  "build_id": result.build_id}))
"""

# The baseline: 20 threads, each its own cursor, each transaction one INSERT of a judgment row
# into a copy of the store's judgments table (same columns and primary key), then COMMIT.
BARE = """
import json, sys, threading, time
import duckdb
con = duckdb.connect(sys.argv[1])
seconds, threads = float(sys.argv[2]), int(sys.argv[3])
row = ["", "bare", "p_x", "ranked", "c_a", "c_b", None, ["tone"],
       "Agrees with the first annotator: it cites the policy.", ["c_a", "c_b", "c_c"],
       "g-0123456789ab", 10.0, None, "2026-01-06 09:00:00", None]  # ..., event_seq
latencies, lock = [], threading.Lock()
start = threading.Barrier(threads + 1)
def work(k):
    cur, mine, n = con.cursor(), [], 0
    start.wait()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        cur.execute("BEGIN TRANSACTION")
        cur.execute("INSERT INTO judgments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [f"bare_{k}_{n}", *row[1:]])
        cur.execute("COMMIT")
        mine.append(time.perf_counter() - t0)
        n += 1
    with lock:
        latencies.extend(mine)
pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
for t in pool:
    t.start()
start.wait()
t0 = time.perf_counter()
for t in pool:
    t.join()
print(json.dumps({"seconds": time.perf_counter() - t0, "latencies": latencies}))
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT)}


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


# --- the store -------------------------------------------------------------------------------


def prepare(work: Path, pairs: int) -> Path:
    """The export benchmark's store plus a valid audit chain of one event per judgment."""
    from run import fill_export_store, prefer_bin

    from core.audit import GENESIS_HASH, event_hash

    project = work / "project"
    subprocess.run([prefer_bin(), "init", str(project)], check=True, capture_output=True,
                   env=_env())
    db = project / "prefer.duckdb"
    fill_export_store(db, work / "base.duckdb", pairs)
    (work / "base.duckdb").unlink()
    con = duckdb.connect(str(db))
    try:
        last = con.execute("SELECT seq, row_hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (int(last[0]), last[1]) if last else (0, GENESIS_HASH)
        rows = con.execute("SELECT annotator, prompt_id, judgment_id, supersedes, created_at "
                           "FROM judgments ORDER BY created_at, judgment_id").fetchall()
        columns: dict[str, list] = {k: [] for k in ("seq", "at", "actor", "action", "subject",
                                                    "details", "prev", "hash")}
        for annotator, prompt_id, judgment_id, supersedes, at in rows:
            seq += 1
            action = "judgment.revise" if supersedes else "judgment.ranked"
            details = json.dumps({"judgment_id": judgment_id, "supersedes": supersedes},
                                 sort_keys=True, separators=(",", ":"))
            row_hash = event_hash(seq, at, annotator, action, prompt_id, details, prev)
            for key, value in zip(columns, (seq, at, annotator, action, prompt_id, details,
                                            prev, row_hash), strict=True):
                columns[key].append(value)
            prev = row_hash
        table = {k: np.array(v, dtype="datetime64[us]" if k == "at" else object)
                 for k, v in columns.items()}
        table["seq"] = np.array(columns["seq"], dtype=np.int64)
        con.register("bench_events", table)
        con.execute("INSERT INTO events SELECT * FROM bench_events")
        con.unregister("bench_events")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return project


def items_for(db: Path, clients: int, per_phase: list[int] | None) -> list[list[list]]:
    """Per phase and client: items to judge (normal 3-candidate items, none given twice), each
    with the best and worst of its first annotator's current judgment (so the new one agrees).
    Without `per_phase`: the store's items, 2 in 5 for the first phase, the rest the second."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT prompt_id, shown_order, best_candidate_id, worst_candidate_id "
            "FROM current_judgments WHERE annotator = 'annotator-a' AND len(shown_order) = 3 "
            "ORDER BY hash(prompt_id)").fetchall()
    finally:
        con.close()
    if per_phase is None:
        each = len(rows) // clients
        per_phase = [each * 2 // 5, each - each * 2 // 5]
    if len(rows) < clients * sum(per_phase):
        sys.exit(f"BENCH FAILED: only {len(rows)} items to judge")
    phases, at = [], 0
    for n in per_phase:
        phases.append([[list(r) for r in rows[at + c * n:at + (c + 1) * n]]
                       for c in range(clients)])
        at += clients * n
    return phases


# --- running ---------------------------------------------------------------------------------


class Server:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(project)],
                                        stdout=subprocess.PIPE, text=True, env=_env())
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "ready":
            sys.exit("BENCH FAILED: the server did not start")

    def stop(self) -> dict:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=120)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        return json.loads(lines[-1]) if lines else {}


def save_phase(work: Path, project: Path, tag: str, items: list[list], deadline_s: float,
               during=None) -> tuple[list[tuple[float, float]], dict | None, dict[str, int]]:
    """Run one client per annotator; with `during`, run that (the build) from 2 s in and stop
    the clients when it returns. Returns (start, latency) per save, during's result (else the
    seconds from the start to the last answer), and the acknowledged saves per annotator."""
    stop, go = work / f"stop-{tag}", work / f"go-{tag}"
    clients = []
    for c, mine in enumerate(items):
        path = work / f"items-{tag}-{c}.json"
        path.write_text(json.dumps(mine))
        out = work / f"saves-{tag}-{c}.json"
        clients.append((f"ann{c:02d}", out, subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(project / "prefer.sock"), f"ann{c:02d}", tag,
             str(path), str(go), str(deadline_s), str(stop), str(out)], env=_env(),
            stdout=subprocess.PIPE, text=True)))
    for name, _, process in clients:  # every client connected before the clock starts
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            sys.exit(f"BENCH FAILED: annotator client {name} did not start")
    go_at = time.time() + 0.5
    deadline = go_at + deadline_s
    (work / "go.tmp").write_text(repr(go_at))
    (work / "go.tmp").rename(go)
    result = None
    if during is not None:
        time.sleep(max(0.0, go_at + 2.0 - time.time()))
        result = during()
        stop.touch()
    saves: list[tuple[float, float]] = []
    acknowledged: dict[str, int] = {}
    for name, out, process in clients:
        if process.wait(timeout=3600) != 0:
            sys.exit(f"BENCH FAILED: annotator client {name} failed")
        written = json.loads(out.read_text())
        mine = [tuple(r) for r in written["saves"]]
        acknowledged[name] = len(mine) + written["warm_up"]
        saves.extend(mine)
    if during is None:
        saves = [s for s in saves if s[0] < deadline]
        # From the start to the last answer (the deadline, unless the items ran out first).
        result = {"seconds": max((s[0] + s[1] for s in saves), default=go_at) - go_at}
    return saves, result, acknowledged


def run_build(project: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", BUILD, str(project)], capture_output=True,
                         text=True, env=_env())
    if out.returncode != 0:
        sys.exit(f"BENCH FAILED: the build failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bare_baseline(work: Path, db: Path, seconds: float) -> dict:
    bare = work / "bare.duckdb"
    con = duckdb.connect(str(bare))
    con.execute(f"ATTACH '{db}' AS store (READ_ONLY)")
    con.execute("CREATE TABLE judgments AS SELECT * FROM store.judgments")
    con.execute("ALTER TABLE judgments ADD PRIMARY KEY (judgment_id)")
    con.execute("DETACH store")
    con.execute("CHECKPOINT")
    con.close()
    out = subprocess.run([sys.executable, "-c", BARE, str(bare), str(seconds), str(ANNOTATORS)],
                         capture_output=True, text=True, env=_env(), check=True)
    data = json.loads(out.stdout)
    bare.unlink()
    return summary([(0.0, x) for x in data["latencies"]], data["seconds"])


def summary(saves: list[tuple[float, float]], seconds: float) -> dict:
    latencies = sorted(s[1] for s in saves)
    if not latencies:
        return {"saves": 0, "seconds": seconds, "per_second": 0.0, "p50_ms": 0.0, "p99_ms": 0.0,
                "max_ms": 0.0}
    return {"saves": len(latencies), "seconds": seconds, "per_second": len(latencies) / seconds,
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": nearest_rank(latencies, 0.99) * 1000,
            "max_ms": latencies[-1] * 1000}


def check(ok: bool, message: str) -> None:
    if not ok:
        sys.exit(f"BENCH FAILED: {message}")


def run(pairs: int = FULL_PAIRS, alone_s: float | None = None, workdir: Path | None = None,
        keep: Path | None = None, only_alone: bool = False) -> dict:
    from run import planted_drops

    alone_s = alone_s or (20.0 if pairs >= FULL_PAIRS else 8.0)
    results: dict = {"pairs": pairs, "annotators": ANNOTATORS, "alone_seconds": alone_s}
    with tempfile.TemporaryDirectory(prefix="prefer-bench-saves-", dir=workdir) as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        if keep is not None:  # prepared once in KEEP/<pairs>, copied for each run
            template = keep / str(pairs)
            if not (template / "project" / "prefer.duckdb").exists():
                template.mkdir(parents=True, exist_ok=True)
                prepare(template, pairs)
            shutil.copytree(template / "project", work / "project")
            project = work / "project"
        else:
            project = prepare(work, pairs)
        db = project / "prefer.duckdb"
        # Full size: enough for ~1,000 saves/s in (a) and through a build of ~4 minutes in (b).
        phase_items = items_for(db, ANNOTATORS, [1500, 12000] if pairs >= FULL_PAIRS else None)
        results["prepared_s"] = time.perf_counter() - t0
        judgments0 = duckdb.connect(str(db), read_only=True).execute(
            "SELECT count(*) FROM judgments").fetchone()[0]
        results["judgments_before"] = judgments0
        print(f"  prepared the store ({pairs:,} pairs, {judgments0:,} judgments and as many "
              f"events) in {results['prepared_s']:.0f} s (not measured)", flush=True)

        results["load_bare"] = load()
        results["bare"] = bare_baseline(work, db, alone_s)
        print(f"  bare DuckDB, {ANNOTATORS} threads, BEGIN/INSERT/COMMIT: "
              f"{results['bare']['per_second']:.0f}/s, p99 {results['bare']['p99_ms']:.1f} ms "
              f"(load {results['load_bare']})", flush=True)

        server = Server(project)
        ack_b: dict[str, int] = {}
        try:
            results["load_alone"] = load()
            saves, window, ack_a = save_phase(work, project, "alone", phase_items[0], alone_s)
            assert window is not None
            results["alone"] = summary(saves, window["seconds"])
            a = results["alone"]
            print(f"  (a) saves alone: {a['per_second']:.0f}/s, p50 {a['p50_ms']:.1f} ms, "
                  f"p99 {a['p99_ms']:.1f} ms (load {results['load_alone']})", flush=True)
            if not only_alone:
                results["load_during"] = load()
                saves, build, ack_b = save_phase(work, project, "build", phase_items[1], 3600.0,
                                                 during=lambda: run_build(project))
                assert build is not None
                window = [s for s in saves if build["began"] <= s[0] < build["ended"]]
                build_s = build["ended"] - build["began"]
                results["during"] = summary(window, build_s)
                results["build_during"] = build
                d = results["during"]
                print(f"  (b) saves during the build: {d['per_second']:.0f}/s, p50 "
                      f"{d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, max {d['max_ms']:.0f} ms; "
                      f"build {build_s:.1f} s (load {results['load_during']})", flush=True)

                results["load_build_alone"] = load()
                results["build_alone"] = run_build(project)
                b = results["build_alone"]
                print(f"  (c) build alone: {b['ended'] - b['began']:.1f} s "
                      f"(load {results['load_build_alone']})", flush=True)
        finally:
            results["server_stats"] = server.stop()
        print(f"  server: {results['server_stats']}", flush=True)

        # Checks: every acknowledged save is stored; every build kept the planted pairs.
        con = duckdb.connect(str(db), read_only=True)
        stored = dict(con.execute("SELECT annotator, count(*) FROM judgments "
                                  "WHERE annotator LIKE 'ann%' GROUP BY 1").fetchall())
        latest = con.execute("SELECT count(*) FROM latest_pairs WHERE status = 'kept'"
                             ).fetchone()[0]
        other = con.execute("SELECT count(*) FROM pairs WHERE build_id NOT IN "
                            "(SELECT build_id FROM latest_pairs)").fetchone()[0]
        con.close()
        for name in ack_a:
            acknowledged = ack_a[name] + ack_b.get(name, 0)
            check(stored.get(name, 0) == acknowledged,
                  f"{name}: {acknowledged} saves acknowledged, {stored.get(name, 0)} stored")
        results["acknowledged"] = sum(ack_a.values()) + sum(ack_b.values())
        if only_alone:
            return results
        planted = planted_drops(pairs)
        for key in ("build_during", "build_alone"):
            got = results[key]
            check(got["kept"] == pairs and got["dropped"] == {**got["dropped"], **planted},
                  f"{key} kept {got['kept']:,} pairs and dropped {got['dropped']}, expected "
                  f"{pairs:,} kept")
        check(latest == pairs, f"the latest build holds {latest:,} kept pairs, expected {pairs:,}")
        check(other == 0, f"{other:,} rows of earlier builds left in the pairs table")
    return results


def markdown(r: dict) -> str:
    a, d, bare = r["alone"], r["during"], r["bare"]
    bd, ba = r["build_during"], r["build_alone"]
    stats = r.get("server_stats") or {}
    during_s, alone_s = bd["ended"] - bd["began"], ba["ended"] - ba["began"]
    builds = stats.get("builds") or [{}, {}]  # (b)'s build, then (c)'s
    lines = [
        f"{r['annotators']} annotator processes saving through one server (RemoteStore, Unix "
        f"socket), each as fast as it is answered; store of {r['pairs']:,} pairs "
        f"({r['judgments_before']:,} judgments and as many audit events before the run).",
        "",
        "| measured | judgments/s | p50 ms | p99 ms | max ms | machine load (1/5/15 min) |",
        "|---|---:|---:|---:|---:|---|",
        f"| bare DuckDB: {r['annotators']} threads, one INSERT + COMMIT per transaction | "
        f"{bare['per_second']:.0f} | {bare['p50_ms']:.1f} | {bare['p99_ms']:.1f} | "
        f"{bare['max_ms']:.0f} | {r['load_bare']} |",
        f"| (a) saves alone ({a['seconds']:.0f} s) | {a['per_second']:.0f} | "
        f"{a['p50_ms']:.1f} | {a['p99_ms']:.1f} | {a['max_ms']:.0f} | {r['load_alone']} |",
        f"| (b) saves while the {r['pairs']:,}-pair build runs ({during_s:.0f} s) | "
        f"{d['per_second']:.0f} | {d['p50_ms']:.1f} | {d['p99_ms']:.1f} | {d['max_ms']:.0f} | "
        f"{r['load_during']} |",
        "",
        "| build of 1 snapshot | seconds | computing + writing its rows | waiting for the "
        "write lock | holding it (recording the build) | deleting the old rows | machine load |",
        "|---|---:|---:|---:|---:|---:|---|",
        _build_row("(b) with the saves competing for the two cores", during_s, builds[-2],
                   r["load_during"]),
        _build_row("(c) alone", alone_s, builds[-1], r["load_build_alone"]),
        "",
        f"- (a) is {a['per_second'] / bare['per_second']:.2f}x the bare loop's throughput; "
        f"during the build the saves keep {d['per_second'] / a['per_second']:.2f}x of (a)'s.",
        f"- {r['acknowledged']:,} acknowledged saves, each found in the store afterwards; both "
        f"builds kept exactly {r['pairs']:,} pairs.",
    ]
    if stats.get("commits"):
        lines.append(f"- server, whole run: {stats['commits']:,} commits for {stats['writes']:,} "
                     f"writes (group commit, up to {stats['largest_batch']} in one), "
                     f"{stats['redone']} redone alone; the write lock was held "
                     f"{stats['lock_held_s']:.1f} s, {stats['commit_s']:.1f} s of it committing.")
    return "\n".join(lines)


def _build_row(name: str, seconds: float, timing: dict, machine_load: str) -> str:
    def ms(key: str) -> str:
        return f"{timing[key] * 1000:,.0f} ms" if key in timing else ""

    compute = f"{timing['compute_and_store']:.1f} s" if "compute_and_store" in timing else ""
    return (f"| {name} | {seconds:.1f} | {compute} | {ms('waiting_for_lock')} | "
            f"{ms('holding_lock')} | {ms('dropping_old_rows')} | {machine_load} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_PAIRS:,} pairs instead of {FULL_PAIRS:,}")
    parser.add_argument("--pairs", type=int, default=None)
    parser.add_argument("--alone-seconds", type=float, default=None)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", type=Path, default=None,
                        help="prepare the store once in this folder and reuse it (a copy each run)")
    parser.add_argument("--only-alone", action="store_true", help="(a) only: no build")
    args = parser.parse_args()
    pairs = args.pairs or (QUICK_PAIRS if args.quick else FULL_PAIRS)
    print(f"saves benchmark, {pairs:,} pairs; load {load()}", flush=True)
    result = run(pairs, args.alone_seconds, args.workdir, args.keep, args.only_alone)
    if not args.only_alone:
        print(markdown(result))


if __name__ == "__main__":
    main()
