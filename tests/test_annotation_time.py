"""Time per item (shown to saved, long pauses left out) and a steady pace."""

from __future__ import annotations

from pathlib import Path

from core.annotation import PAUSE_S, AnnotationSession, items_per_hour
from core.project import Project
from core.sources import import_file
from core.store import LocalStore
from tests.conftest import item_rows, write_jsonl


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_time_per_item_leaves_long_pauses_out(project: Project, store: LocalStore,
                                              tmp_path: Path) -> None:
    import_file(store, write_jsonl(tmp_path / "i.jsonl", item_rows(3)), actor="t")
    clock = FakeClock()
    session = AnnotationSession(store, project.config, "alice", "g", clock=clock)
    session.next_item()
    clock.now += 20
    session.press(1)
    clock.now += PAUSE_S + 600  # lunch: not counted
    session.press(2)
    clock.now += 15
    stored = session.save("One is the careful, correct answer.")
    assert stored.seconds_spent == 35.0
    assert store.execute_for_test("SELECT seconds_spent FROM judgments") == [(35.0,)]


def test_the_pace_is_steady_median_based() -> None:
    assert items_per_hour([]) is None
    assert items_per_hour([60.0]) == 60.0
    # one very slow item does not swing it
    assert items_per_hour([60.0, 60.0, 60.0, 900.0]) == 60.0
