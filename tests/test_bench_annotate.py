"""The annotation benchmark's harness still drives the real screen (no timing asserted here: the
speed is measured by tests/benchmarks/bench_annotate.py). When the screen's key flow changes,
this fails until `judge_item` / `prompt_on_screen` in the benchmark follow it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from core.project import open_project
from core.store import open_store

BENCH = Path(__file__).parent / "benchmarks" / "bench_annotate.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_annotate", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_annotate", module)
    spec.loader.exec_module(module)
    return module


async def test_the_benchmark_judges_items_and_times_each_one(tmp_path: Path) -> None:
    bench = _bench()
    root = tmp_path / "p"
    bench.build_project(root, 12)
    project = open_project(root)
    with open_store(project.database_path) as store:
        timing = await bench.annotate(bench.make_app(project, store, bench.ANNOTATOR), items=3)
        assert len(timing.milliseconds) == 3 and all(ms > 0 for ms in timing.milliseconds)
        # every item was judged with the benchmark's keys and saved, in queue order
        rows = store.execute_for_test(
            "SELECT prompt_id, justification FROM judgments WHERE annotator = ? "
            "ORDER BY created_at", [bench.ANNOTATOR])
    assert [r[0] for r in rows] == [f"q{i:06d}" for i in range(bench.WARM_UP + 3)]
    assert {r[1] for r in rows} == {bench.JUSTIFICATION}
