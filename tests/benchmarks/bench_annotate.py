"""Benchmark: save -> next item on screen, inside the real annotation app, at 80x24.

The annotation app (tui/app.py, the same `make_app` as `prefer annotate`) runs under Textual's
Pilot at 80x24 in this process. One simulated expert judges item after item with the keys the
screen asks for (`judge_item`: best digit, worst digit, a justification; the save key is
pressed by the timing loop). Each item is timed from just before the save key is pressed to
the end of the first screen refresh that shows the next item's prompt: the app's `_display`
(where Textual hands a finished frame to the terminal driver, called even headless once the
frame is composed) is wrapped, and the clock stops in the first call after which the prompt on
screen is the next item's (`next_item_shown`). So the time covers the key's handling, the save
and the next-item lookups (in the screen's worker, through the store), the message back to the
screen, its update of the widgets, layout and the composition of the frame.

Projects (prompts with 4 candidates of 300-700 characters, prompts of 150-400):
  1,000 prompts; 100,000 prompts; 100,000 prompts with 20,000 earlier judgments by the same
  annotator (brought in with `import-judgments`, so their queue starts at item 20,001).
Each is measured twice: embedded (the app over a LocalStore in this process) and through a
real `prefer serve` (a process of its own, started as the CLI does; the app over a
RemoteStore on the project's Unix socket). The server's peak RSS (VmHWM from /proc, which is
the process's own since its exec) is read while the annotator works, before it stops.

    .venv/bin/python tests/benchmarks/bench_annotate.py            # full: 1,000 and 100,000
    .venv/bin/python tests/benchmarks/bench_annotate.py --quick    # smoke: 1,000 and 5,000
    .venv/bin/python tests/benchmarks/bench_annotate.py --keep DIR # projects built once in DIR

`make bench` runs it through run.py (`--only annotate`), which writes the results into
docs/benchmarks.md after a full-size run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
sys.path.insert(0, str(REPO_ROOT))

from textual.pilot import Pilot  # noqa: E402

from core.judgment_import import import_judgments  # noqa: E402
from core.project import init_project, open_project  # noqa: E402
from core.sources import import_file  # noqa: E402
from core.store import SOCKET_FILE, RemoteStore, open_store  # noqa: E402
from tests.benchmarks.percentiles import nearest_rank  # noqa: E402
from tui.app import PreferApp, make_app  # noqa: E402

SIZE = (80, 24)
ANNOTATOR = "alice"
FULL_SIZES = (1_000, 100_000)
QUICK_SIZES = (1_000, 5_000)
EARLIER_SHARE = 5  # the third project: 1 in 5 of the large one's items judged before (20,000)
FULL_ITEMS, QUICK_ITEMS = 100, 20  # items timed per project and mode
ROUNDS = 4  # a full run times each row in this many rounds (see run)
WARM_UP = 5  # items judged before the clock runs (first loads of indexes, JIT of nothing)
JUSTIFICATION = "Best cites the tariff rule, worst guesses."


# --- the key flow: the one place to adapt when the annotation screen changes ------------------

SAVE_KEY = "enter"  # pressed by the timing loop, the clock started just before it


async def judge_item(pilot: Pilot, item_number: int) -> None:
    """Press the keys that judge the item on screen, all but the save key: best digit, worst
    digit (then the justification box has focus), the justification. The screen's own flow
    (tui/screens/annotate.py, tui/bindings.py); a changed flow changes only this function."""
    best, worst = (1, 3) if item_number % 2 else (2, 4)
    await pilot.press(str(best), str(worst))
    await pilot.press(*[{" ": "space", ";": "semicolon", ",": "comma", ".": "full_stop"}
                        .get(ch, ch) for ch in JUSTIFICATION])


def prompt_on_screen(app: PreferApp) -> str:
    """The prompt text the annotation screen shows now ('' when none)."""
    try:
        return str(app.screen.query_one("#prompt").render())
    except Exception:  # another screen on top, or none mounted yet
        return ""


# --- timing -----------------------------------------------------------------------------------


class FrameClock:
    """Stops a clock at the end of the first frame that shows another item's prompt.

    Wraps the app's `_display`, which Textual calls with every composed frame (the end of a
    refresh); the check reads the prompt widget's content, which the frame just drew.
    """

    def __init__(self, app: PreferApp) -> None:
        self.app = app
        self.previous_prompt = ""
        self.stopped_at: float | None = None
        self.frames = 0
        self.shown = asyncio.Event()
        original: Callable = app._display

        def display(screen, renderable) -> None:
            original(screen, renderable)
            if self.stopped_at is None and renderable is not None:
                self.frames += 1
                shown = prompt_on_screen(app)
                if shown and shown != self.previous_prompt:
                    self.stopped_at = time.perf_counter()
                    self.shown.set()

        app._display = display  # type: ignore[method-assign]

    def arm(self) -> None:
        self.previous_prompt = prompt_on_screen(self.app)
        self.stopped_at = None
        self.frames = 0
        self.shown.clear()


@dataclass
class Timing:
    milliseconds: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    # CPU time (user + system, all threads) of this process per timed item, and of the server
    # over all timed items: work done, which a busy machine stretches less than wall time.
    cpu_ms: list[float] = field(default_factory=list)
    server_cpu_s: float | None = None

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.milliseconds)
        found = {"items": len(ordered), "p50_ms": statistics.median(ordered),
                 "p99_ms": nearest_rank(ordered, 0.99),
                 "max_ms": ordered[-1], "mean_frames": statistics.mean(self.frames),
                 "app_cpu_ms": statistics.median(self.cpu_ms)}
        if self.server_cpu_s is not None:
            found["server_cpu_ms"] = self.server_cpu_s * 1000 / len(ordered)
        return found


async def annotate(app: PreferApp, items: int, on_item: Callable[[], None] = lambda: None,
                   server_cpu: Callable[[], float] | None = None) -> Timing:
    """Judge WARM_UP + `items` items in the app at 80x24; time the last `items`.
    `server_cpu`, when given, reads the server's CPU seconds so far."""
    timing = Timing()
    async with app.run_test(size=SIZE) as pilot:
        clock = FrameClock(app)
        await _wait_for_prompt(pilot)
        server_cpu_at_start = 0.0
        for number in range(WARM_UP + items):
            await judge_item(pilot, number)
            if number == WARM_UP and server_cpu is not None:
                server_cpu_at_start = server_cpu()
            clock.arm()
            cpu_started = time.process_time()
            started = time.perf_counter()
            await pilot.press(SAVE_KEY)
            await asyncio.wait_for(clock.shown.wait(), timeout=60)
            assert clock.stopped_at is not None
            if number >= WARM_UP:
                timing.milliseconds.append((clock.stopped_at - started) * 1000)
                timing.cpu_ms.append((time.process_time() - cpu_started) * 1000)
                timing.frames.append(clock.frames)
            on_item()
            await pilot.app.workers.wait_for_complete()
        if server_cpu is not None:
            timing.server_cpu_s = server_cpu() - server_cpu_at_start
    return timing


async def _wait_for_prompt(pilot: Pilot) -> None:
    for _ in range(6000):
        if prompt_on_screen(pilot.app).startswith("Question"):
            return
        await pilot.pause(0.01)
    raise SystemExit("BENCH FAILED: the first item never appeared")


# --- projects ---------------------------------------------------------------------------------

_WORDS = [
    "tariff", "contract", "notice", "period", "fee", "refund", "branch", "advisor", "deposit",
    "statement", "transfer", "card", "limit", "interest", "loan", "policy", "claim", "insurer",
    "premium", "excess", "cover", "exclusion", "invoice", "account", "balance", "pension",
    "tax", "warranty", "delivery", "return", "privacy", "consent", "record", "clause",
    "customer", "meter", "reading", "roaming", "upgrade", "handset", "cancellation", "porting",
]


def _text(rng: random.Random, low: int, high: int) -> str:
    target = rng.randint(low, high)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < target:
        words.append(rng.choice(_WORDS))
    return " ".join(words).capitalize() + "."


def build_project(root: Path, prompts: int) -> None:
    """A project of `prompts` prompts with 4 candidates each, imported as `prefer import` does."""
    project = init_project(root)
    rng = random.Random(prompts)
    path = root / "items.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(prompts):
            out.write(json.dumps({
                "id": f"q{i:06d}", "prompt": f"Question {i}: {_text(rng, 150, 400)}",
                "candidates": [f"Answer {j}: {_text(rng, 300, 700)}" for j in range(4)],
            }) + "\n")
    with open_store(project.database_path) as store:
        import_file(store, path, actor="bench")
    path.unlink()


def add_earlier_judgments(root: Path, count: int) -> None:
    """`count` judgments by ANNOTATOR of the first `count` items, via `import-judgments`."""
    project = open_project(root)
    path = root / "earlier.jsonl"
    with open_store(project.database_path) as store:
        with path.open("w", encoding="utf-8") as out:
            for i in range(count):
                item = store.get_item(f"q{i:06d}")
                assert item is not None
                out.write(json.dumps({
                    "annotator": ANNOTATOR, "prompt_id": item.prompt.prompt_id,
                    "best": item.candidates[0].candidate_id,
                    "worst": item.candidates[1].candidate_id,
                    "justification": "Judged in an earlier session of the campaign."}) + "\n")
        import_judgments(store, path, actor="bench")
        assert store.progress(ANNOTATOR).judged == count
    path.unlink()


def projects(folder: Path, sizes: tuple[int, int]) -> dict[str, Path]:
    """The three projects (built once: a folder holding one is used as it is)."""
    small, large = sizes
    earlier = large // EARLIER_SHARE
    found = {f"{small:,} prompts": folder / f"p{small}",
             f"{large:,} prompts": folder / f"p{large}",
             f"{large:,} prompts, {earlier:,} judged before": folder / f"p{large}_judged"}
    for size, root in ((small, found[f"{small:,} prompts"]),
                       (large, found[f"{large:,} prompts"])):
        if not (root / "prefer.duckdb").exists():
            print(f"  building {size:,} prompts ...", flush=True)
            shutil.rmtree(root, ignore_errors=True)
            build_project(root, size)
    judged = found[f"{large:,} prompts, {earlier:,} judged before"]
    if not (judged / "prefer.duckdb").exists():
        print(f"  adding {earlier:,} earlier judgments ...", flush=True)
        shutil.rmtree(judged, ignore_errors=True)
        shutil.copytree(found[f"{large:,} prompts"], judged)
        add_earlier_judgments(judged, earlier)
    return found


# --- the two modes ----------------------------------------------------------------------------


def embedded(root: Path, items: int) -> tuple[Timing, dict[str, float]]:
    project = open_project(root)
    with open_store(project.database_path) as store:
        app = make_app(project, store, ANNOTATOR)
        return asyncio.run(annotate(app, items)), {}


def _memory_kib(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0])
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def served(root: Path, items: int) -> tuple[Timing, dict[str, float]]:
    """The app over a RemoteStore, against `prefer serve` started as the CLI starts it."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen([str(Path(sys.executable).parent / "prefer"), "serve", "-p",
                               str(root)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        if "Serving" not in line:
            raise SystemExit(f"BENCH FAILED: prefer serve did not start: {line}")
        started_kib = _memory_kib(server.pid)["VmRSS"]
        project = open_project(root)
        store = RemoteStore(root / SOCKET_FILE, act_as=ANNOTATOR)
        app = make_app(project, store, ANNOTATOR)
        peak = {"VmHWM": 0}

        def note_memory() -> None:
            peak["VmHWM"] = max(peak["VmHWM"], _memory_kib(server.pid)["VmHWM"])

        timing = asyncio.run(annotate(app, items, note_memory,
                                      lambda: _cpu_seconds(server.pid)))
        note_memory()
        store.close()
        return timing, {"server_start_mib": started_kib / 1024,
                        "server_peak_mib": peak["VmHWM"] / 1024}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)


def run(quick: bool = False, keep: Path | None = None, items: int | None = None) -> dict:
    """Every project in both modes, in ROUNDS rounds of items / ROUNDS items each (every row
    once a round, in the same order); the results and the machine's load around each.

    Rounds, not one row after the other: this machine's speed drifts over the tens of minutes
    a full run takes (in a run of 2026-12-08 the rows measured last, 30-40 minutes after the
    1,000-prompt rows, were up to 1.2x slower, while the same projects measured back to back
    minutes later differed by 0.9-1.06x), and the aim compares rows with each other."""
    sizes = QUICK_SIZES if quick else FULL_SIZES
    items = items or (QUICK_ITEMS if quick else FULL_ITEMS)
    rounds = 1 if quick else ROUNDS
    per_round = [items // rounds + (1 if r < items % rounds else 0) for r in range(rounds)]
    folder = keep or Path(tempfile.mkdtemp(prefix="prefer-bench-annotate-"))
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / "work"
    try:
        built = projects(folder, sizes)
        results: dict = {"items": items, "rounds": rounds, "rows": []}
        shutil.rmtree(work, ignore_errors=True)
        rows: dict[tuple[str, str], dict] = {}
        for name, root in built.items():
            for mode, measure in (("embedded", embedded), ("prefer serve", served)):
                # Each row's own copy of the project as built, judged on round after round.
                copy = work / f"{len(rows)}"
                shutil.copytree(root, copy)
                rows[name, mode] = {"project": name, "mode": mode, "measure": measure,
                                    "copy": copy, "timing": Timing(), "extras": {},
                                    "loads": []}
        for number, count in enumerate(per_round, start=1):
            for (name, mode), row in rows.items():
                load_before = os.getloadavg()[0]
                print(f"  round {number}/{rounds}: {name}, {mode} ({count} items) ...",
                      flush=True)
                timing, extras = row["measure"](row["copy"], count)
                row["loads"].append((load_before, os.getloadavg()[0]))
                merged: Timing = row["timing"]
                merged.milliseconds += timing.milliseconds
                merged.frames += timing.frames
                merged.cpu_ms += timing.cpu_ms
                if timing.server_cpu_s is not None:
                    merged.server_cpu_s = (merged.server_cpu_s or 0.0) + timing.server_cpu_s
                for key, value in extras.items():  # the servers' memory: the largest
                    row["extras"][key] = max(row["extras"].get(key, 0.0), value)
        for row in rows.values():
            result = row["timing"].summary()
            result.update(row["extras"], project=row["project"], mode=row["mode"],
                          load_before=min(before for before, _ in row["loads"]),
                          load_after=max(after for _, after in row["loads"]))
            results["rows"].append(result)
            print(f"  {row['project']}, {row['mode']}: p50 {result['p50_ms']:.1f} ms, p99 "
                  f"{result['p99_ms']:.1f} ms"
                  + (f", server peak {result['server_peak_mib']:.0f} MiB"
                     if "server_peak_mib" in result else ""), flush=True)
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def markdown(results: dict) -> str:
    rows = results["rows"]
    rounds = results.get("rounds", 1)
    lines = [f"Save -> next item on screen, {results['items']} items per row in {rounds} "
             f"round{'s' if rounds > 1 else ''} (every row once a round, each session after "
             f"{WARM_UP} items not timed), the annotation app at 80x24 under Pilot:", "",
             "| project | mode | p50 ms | p99 ms | max ms | CPU ms per item: app (p50) + server "
             "(mean) | server peak RSS (MiB) | load (1 min) lowest before / highest after |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        rss = f"{r['server_peak_mib']:.0f}" if "server_peak_mib" in r else ""
        cpu = f"{r['app_cpu_ms']:.1f}" + (f" + {r['server_cpu_ms']:.1f}"
                                           if "server_cpu_ms" in r else "")
        lines.append(f"| {r['project']} | {r['mode']} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
                     f"{r['max_ms']:.1f} | {cpu} | {rss} | {r['load_before']:.2f} / "
                     f"{r['load_after']:.2f} |")
    lines.append("")
    by = {(r["project"], r["mode"]): r for r in rows}
    small = rows[0]["project"]
    for mode in ("embedded", "prefer serve"):
        base = by.get((small, mode))
        if base is None:
            continue
        ratios = [f"{r['project']}: p50 {r['p50_ms'] / base['p50_ms']:.2f}x, p99 "
                  f"{r['p99_ms'] / base['p99_ms']:.2f}x"
                  for r in rows if r["mode"] == mode and r["project"] != small]
        lines.append(f"- {mode}, against {small}: " + "; ".join(ratios) + ".")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke run: {QUICK_SIZES[0]:,} and {QUICK_SIZES[1]:,} prompts, "
                             f"{QUICK_ITEMS} items each")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build the projects in this folder once and reuse them")
    parser.add_argument("--items", type=int, default=None,
                        help=f"items timed per project and mode (default {FULL_ITEMS}, "
                             f"--quick {QUICK_ITEMS})")
    args = parser.parse_args()
    print(markdown(run(args.quick, args.keep, args.items)))


if __name__ == "__main__":
    main()
